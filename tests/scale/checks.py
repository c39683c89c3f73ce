"""Exactly once, checked on the effects themselves: the Maildir (each expected email once, no
Message-ID twice), each wiki's block log and the log page's revisions and text; and what
the instances did (work shared, survivors took over)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import aiohttp

from casework.kafka import KafkaSettings
from deploy.sandbox_wiki import ROLE_ACCOUNT
from deploy.stack import ServiceProcess
from services.notify.domain.render import statement_marker
from tests.scale.cluster import Cluster
from tests.scale.effects import (
    APPROVED,
    ENFORCED,
    RECEIVED,
    Received,
    block_targets,
    emails,
    log_page_edits,
    log_pages,
    notice_edits,
    page_text,
)
from tests.scale.run import Outcome

PARTITIONS = 4
LOG_PAGE = "Office actions log"
# The sink stores a message a moment after its last byte arrives: a copy the killed
# instance finished sending just before it died may be stored just after.
SINK_STORE_SECONDS = 0.5
# Emails a notify instance may have handed to the SMTP server at the moment it is killed.
IN_FLIGHT = KafkaSettings("unused:9092").handler_concurrency


async def assert_exactly_once(cluster: Cluster, outcome: Outcome) -> None:
    problems = await exactly_once_problems(cluster, outcome)
    assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} problems)"


async def exactly_once_problems(cluster: Cluster, outcome: Outcome) -> list[str]:
    """Every way the effects differ from once each (repeats start "email sent N times",
    or name more block-log entries or statements than expected)."""
    problems = [
        *(
            [f"{len(outcome.missing)} notifications never sent, e.g. {sorted(outcome.missing)[:5]}"]
            if outcome.missing
            else []
        ),
        *emails_exactly_once(cluster.root / "mail", outcome, cluster.instances["notify"]),
        *await wiki_actions_exactly_once(cluster, outcome),
    ]
    for message_id, copies in outcome.resent.items():
        print(f"sent again across a kill: {message_id} at {[c.at for c in copies]}")
    return problems


def repeats(problems: list[str]) -> list[str]:
    """The problems that are an effect done more than once."""
    found = []
    for p in problems:
        counted = COUNTED.search(p)
        if p.startswith("email sent ") or (counted and int(counted[1]) > int(counted[2])):
            found.append(p)
    return found


COUNTED = re.compile(
    r": (\d+) (?:block-log entries|notice edits|statement edits) .*, expected (\d+)"
)


def emails_exactly_once(
    maildir: Path, outcome: Outcome, notify: list[ServiceProcess], in_flight: int = IN_FLIGHT
) -> list[str]:
    """Problems with the emails: repeats, losses, strays, wrong counts per recipient.

    The repeats accepted (see ``resent_across_the_kill``): per notify instance SIGKILLed, at
    most ``in_flight`` messages it handed to the SMTP server just before it died, sent
    again with the same Message-ID by the instance that took over."""
    messages = emails(maildir)
    problems = []
    copies: dict[str, list[Received]] = defaultdict(list)
    for m in messages:
        copies[m["Message-ID"]].append(m)
    repeats = {mid: got for mid, got in copies.items() if len(got) > 1}
    outcome.resent = resent_across_the_kill(repeats, outcome.notify_deaths, in_flight)
    for message_id, got in sorted(repeats.items()):
        if message_id not in outcome.resent:
            problems.append(
                f"email sent {len(got)} times: {message_id} to {got[0]['To']}"
                f" ({got[0]['Subject']}) at {[round(m.at, 3) for m in got]}"
                + _log_lines(notify, message_id.strip("<>").split(".")[0])
            )
    wanted: dict[str, str] = {}
    revisions = outcome.watch.revisions()
    for case_id, case in outcome.driven.cases.items():
        reference = outcome.driven.references[case_id]
        wanted |= case.expected_messages(case_id, reference, revisions.get(case_id, 1))
    missing = sorted(wanted[m] for m in wanted.keys() - copies.keys())
    if missing:
        kinds = Counter(m.split(" ", 1)[1] for m in missing)
        problems.append(f"{len(missing)} emails never sent: {dict(kinds)}; e.g. {missing[:5]}")
    unexpected = sorted(copies.keys() - wanted.keys())
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected emails, e.g. {unexpected[:5]}")
    expected = Counter(r for c in outcome.cases for r in c.expected_emails())
    per_address = Counter(kept[0]["To"] for kept in copies.values())
    for address in sorted(expected.keys() | per_address.keys()):
        if expected[address] != per_address[address]:
            problems.append(
                f"{address}: {per_address[address]} emails, expected {expected[address]}"
            )
    return problems


def resent_across_the_kill(
    repeats: dict[str, list[Received]], deaths: list[float], in_flight: int = IN_FLIGHT
) -> dict[str, list[Received]]:
    """At most ``in_flight`` messages per notify SIGKILL sent twice because of it: the SMTP
    server took each from the killed notify instance, which died before recording it sent
    (the crash window no store can close: the send and the record are not one
    transaction); the instance given the event again finds the delivery still "sending"
    and sends it again under the same Message-ID, which lets a receiving system drop the
    copy. Notify handles up to ``handler_concurrency`` cases at once, so as many sends can
    be in that window. Two copies exactly, the first stored before the killed instance had
    exited (give or take the sink's store time), the second after; every such copy
    straddles a different kill."""
    across: dict[str, list[Received]] = {}
    for dead_at in deaths:
        here = {
            mid: got
            for mid, got in repeats.items()
            if mid not in across
            and len(got) == 2
            and got[0].at <= dead_at + SINK_STORE_SECONDS < got[1].at
        }
        if len(here) > in_flight:
            return {}
        across |= here
    return across


async def wiki_actions_exactly_once(cluster: Cluster, outcome: Outcome) -> list[str]:
    problems = []
    by_account = {c.account: case_id for case_id, c in outcome.driven.cases.items()}
    bans = {case_id: c for case_id, c in outcome.driven.cases.items() if c.ban}
    banned = {c.account for c in bans.values()}
    async with aiohttp.ClientSession() as http:
        for wiki_id, wiki in cluster.farm.items():
            for what, counts in (
                ("block-log entries", await block_targets(http, wiki.api_url)),
                ("notice edits", await notice_edits(http, wiki.api_url, ROLE_ACCOUNT)),
            ):
                for account in sorted(banned | counts.keys()):
                    want = 1 if account in banned else 0
                    if counts[account] != want:
                        case_id = by_account.get(account, "?")
                        problems.append(
                            f"{wiki_id}: {counts[account]} {what} for {account}"
                            f" ({case_id}), expected {want}"
                            + _log_lines(cluster.instances["enforcement"], case_id)
                        )
        statement_wiki = cluster.statement_wiki.api_url
        edits: Counter[str] = Counter()
        texts = []
        for page in await log_pages(http, statement_wiki, LOG_PAGE):
            edits.update(
                summary.removeprefix("Office action ").split(":")[0]
                for summary in await log_page_edits(http, statement_wiki, page)
                if summary.endswith(": public statement")
            )
            texts.append(await page_text(http, statement_wiki, page))
        text = "\n".join(texts)
    for case_id in sorted(set(bans) | edits.keys()):
        want = 1 if case_id in bans else 0
        markers = text.count(statement_marker(case_id))
        if edits[case_id] != want or markers != want:
            problems.append(
                f"log page: {edits[case_id]} statement edits and {markers} statements for"
                f" {case_id}, expected {want}" + _log_lines(cluster.instances["notify"], case_id)
            )
    return problems


def assert_work_shared(outcome: Outcome) -> None:
    """Every instance handled events (scraped before any kill) and served review requests."""
    assert outcome.handled, "no metrics scraped"
    idle = {name: n for name, n in outcome.handled.items() if n <= 0}
    assert not idle, f"instances that handled nothing: {idle} of {outcome.handled}"
    served = outcome.driven.requests_by_instance
    assert {"review-1", "review-2"} <= {n for n, count in served.items() if count > 0}, served


def assert_survivors_took_over(outcome: Outcome, survivors_after: dict[str, float]) -> None:
    """Cases that entered a service only after the kill had only the survivor to handle them:
    their partitions cover every partition, and every such case reached its end state. The
    once-only duties the killed instance held (its leases) are held by the survivor."""
    assert outcome.killed_at is not None
    survivor = {
        service: next(n for n in outcome.handled if n.startswith(f"{service}-") and n != killed)
        for service, killed in outcome.killed.items()
    }
    after = outcome.killed_at + 1.0
    driven, watch = outcome.driven, outcome.watch
    submitted_late = {c for c, at in driven.submitted_at.items() if at > after}
    approved_late = {c for c, at in driven.approved_at.items() if at > after}
    received = watch.partition_of(RECEIVED)  # by reference, on the intake topic
    approved = watch.partition_of(APPROVED)
    enforced = watch.partition_of(ENFORCED)
    took_over = {
        ("review", "intake topic"): {received[driven.references[c]] for c in submitted_late},
        ("enforcement", "review topic"): {approved[c] for c in approved_late},
        ("notify", "enforcement topic"): {enforced[c] for c in approved_late},
    }
    for (service, topic), partitions in took_over.items():
        assert partitions == set(range(PARTITIONS)), (survivor[service], topic, partitions)
    assert watch.told() >= approved_late
    for service, name in survivor.items():
        assert survivors_after[name] > outcome.handled[name], (name, survivors_after)
        held_by_victim = {
            duty
            for duty, holder in outcome.leases_at_kill[service].items()
            if holder == outcome.killed[service]
        }
        assert "outbox-relay" in held_by_victim, (service, outcome.leases_at_kill)
        for duty in held_by_victim:
            assert outcome.leases_at_end[service].get(duty) == name, (
                service,
                duty,
                outcome.leases_at_end,
            )


def _log_lines(instances: list[ServiceProcess], needle: str, limit: int = 6) -> str:
    """The lines of each instance's log that mention ``needle``: which instance did what."""
    found = []
    for process in instances:
        if not process.log_path.exists():
            continue
        lines = [
            line
            for line in process.log_path.read_text(errors="replace").splitlines()
            if needle in line
        ]
        found += [f"    {process.name}: {line}" for line in lines[:limit]]
    return ("\n" + "\n".join(found)) if found else ""

"""Each benchmark scenario: set up on the embedded defaults, measure, return figures."""

from __future__ import annotations

import asyncio
import mailbox
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer

from bench import cpu, raw
from bench.environment import Bench, bench_environment, run_loadgen, watcher
from bench.stats import percentile
from casework.cloudevents import from_kafka, to_kafka
from casework.contract import (
    Channel,
    EvidenceItem,
    EvidenceLocation,
    Requester,
    Subject,
    SubmissionKind,
    SubmissionReceived,
    to_cloudevent,
    topic_of,
)
from casework.kafka import EventPublisher, ensure_topics
from casework.outbox import OutboxRelay
from casework.store import OutboxMessage, open_store
from deploy.broker import TansuBroker
from deploy.credentials import bus_settings
from deploy.stack import ServiceProcess

Figures = dict[str, Any]
PARTITIONS = 4


async def http_limits() -> Figures:
    """Bare aiohttp vs intake's JSON API under the same generator at 32 clients."""
    with bench_environment() as bench:
        bare_port = bench.ports.monitor
        bare = ServiceProcess("bare", bare_port, {}, bench.root / "logs")
        bare.argv = [bare.argv[0], "-m", "bench.bare_server", "--port", str(bare_port)]
        bare.env = dict(os.environ)
        bare.start()
        bench.processes.append(bare)
        bare.wait_healthy(30)
        run_loadgen("--url", f"{bare.url}/", "--body", "bare", "--count", "300")  # warm-up
        bare_result = run_loadgen("--url", f"{bare.url}/", "--body", "bare", "--count", "4000")
        intake = bench.start_service("intake")
        url = f"{intake.url}/api/v1/requests"
        run_loadgen("--url", url, "--body", "intake", "--count", "200")  # warm-up
        intake_result = run_loadgen("--url", url, "--body", "intake", "--count", "3000")
    return {"bare": bare_result, "intake": intake_result}


async def kafka_limits() -> Figures:
    with bench_environment() as bench:
        both = await raw.kafka_produce_consume(bench.bootstrap, 20_000)
        relay = await raw.kafka_relay(bench.bootstrap, 10_000)
    return {**both, "relay_per_s": relay}


def sqlite_limit(root: Path) -> float:
    return raw.sqlite_inserts(root / "raw.sqlite3", 3000)


def submission(n: int, run: str) -> SubmissionReceived:
    account = f"Backlog User {run} {n}"
    return SubmissionReceived(
        submission_id=f"R-BENCH{run.upper()}{n:07d}",
        kind=SubmissionKind.REQUEST,
        channel=Channel.API,
        action_type="global-ban",
        routed_to="support-and-safety",
        summary=f"{account} harassed several editors across talk pages for months.",
        subject=Subject(account=account),
        evidence=[
            EvidenceItem(
                url=f"https://example.org/bench/{n}",
                description="threats in a public forum",
                where=EvidenceLocation.OFF_WIKI_PUBLIC,
            )
        ],
        prior_attempts=["https://example.org/noticeboard"],
        requester=Requester(name="Bench Requester", email=f"bench{n}@example.org"),
        received_at=datetime.now(UTC),
    )


async def _prefill(bootstrap: str, count: int, run: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        **bus_settings(bootstrap).client_options(),
    )
    await producer.start()
    try:
        futures = []
        for n in range(count):
            key, value, headers = to_kafka(to_cloudevent(submission(n, run)))
            futures.append(await producer.send(topic_of("intake"), value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _watch_cases(bootstrap: str, expected: int, within: float) -> tuple[float, float, int]:
    """Seconds from the first to the last distinct CaseOpened; and how many were seen."""
    consumer = watcher(bootstrap, topic_of("review"), "watch")
    await consumer.start()
    seen: set[str] = set()
    first = last = 0.0
    deadline = time.monotonic() + within
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    event = from_kafka(record.key, record.value, record.headers)
                    if event.type.endswith("case-opened.v1"):
                        if not seen:
                            first = now
                        seen.add(event.subject)
                        last = now
    finally:
        await consumer.stop()
    return first, last, len(seen)


async def pipeline(instances: int, count: int = 20_000) -> Figures:
    """Review opening cases from a backlog of submission events, with N instances."""
    with bench_environment() as bench:
        settings = bench.broker.settings()
        topics = [topic_of(s) for s in ("intake", "review")]
        await ensure_topics(settings, topics, partitions=PARTITIONS)
        await _prefill(bench.bootstrap, count, run=uuid.uuid4().hex[:4])
        watch = asyncio.create_task(_watch_cases(bench.bootstrap, count, within=600))
        for i in range(instances):
            bench.start_service("review", instance=f"review-{i}" if instances > 1 else "")
        first, last, seen = await watch
    seconds = last - first
    return {
        "instances": instances,
        "cases": seen,
        "seconds": seconds,
        "per_s": (seen - 1) / seconds if seconds > 0 else 0.0,
    }


async def intake_to_review_latency(rate: float = 50, count: int = 500) -> Figures:
    """At a steady rate, time from intake's 202 to review's CaseOpened on the broker."""
    with bench_environment() as bench:
        await ensure_topics(
            bench.broker.settings(),
            [topic_of(s) for s in ("intake", "review")],
            partitions=PARTITIONS,
        )
        intake = bench.start_service("intake")
        bench.start_service("review")
        arrivals: dict[str, float] = {}
        stop = asyncio.Event()
        watcher = asyncio.create_task(_arrivals(bench.bootstrap, arrivals, stop))
        await asyncio.sleep(3)  # wait-ok: let the watcher's group join before load starts
        record = bench.root / "accepted.txt"
        result = await asyncio.to_thread(
            run_loadgen,
            "--url",
            f"{intake.url}/api/v1/requests",
            "--body",
            "intake",
            "--rate",
            str(rate),
            "--count",
            str(count),
            "--record",
            str(record),
        )
        accepted = dict(
            (ref, float(at))
            for ref, at in (line.split() for line in record.read_text().splitlines() if line)
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(ref in arrivals for ref in accepted):  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # wait-ok: deadline poll for the last cases
        stop.set()
        await watcher
    latencies = [arrivals[r] - t for r, t in accepted.items() if r in arrivals]
    return {
        "sent": result["ok"],
        "seen": len(latencies),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


async def _arrivals(bootstrap: str, arrivals: dict[str, float], stop: asyncio.Event) -> None:
    # The watcher must not add the broker's fetch wait.
    consumer = watcher(bootstrap, topic_of("review"), "lat", fetch_max_wait_ms=10)
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batches.values():
                for record in records:
                    event = from_kafka(record.key, record.value, record.headers)
                    if event.type.endswith("case-opened.v1"):
                        arrivals[str(event.data["submission_id"])] = now
    finally:
        await consumer.stop()


async def outbox_recovery(count: int = 10_000) -> Figures:
    """A broker restart with `count` unpublished outbox entries: time until all are out."""
    with bench_environment() as bench:
        path = bench.root / "recovery.sqlite3"
        filler = await open_store(f"sqlite:///{path}?synchronous=OFF")
        run = uuid.uuid4().hex[:4]
        for n in range(count):
            event = submission(n, run)
            await filler.insert(
                "submissions",
                {"_id": event.submission_id},
                outbox=[OutboxMessage(topic_of("intake"), to_cloudevent(event))],
            )
        await filler.close()
        bench.broker.stop()  # the restart: Tansu keeps nothing
        bench.broker = TansuBroker(bench.ports.broker)
        bench.broker.start()
        store = await open_store(f"sqlite:///{path}")
        publisher = EventPublisher(bench.broker.settings())
        t0 = time.perf_counter()
        await publisher.start()
        await ensure_topics(bench.broker.settings(), [topic_of("intake")], partitions=4)
        relay = OutboxRelay(store, publisher.publish, publish_many=publisher.publish_many)
        runner = asyncio.create_task(relay.run())
        while relay.published < count:
            await asyncio.sleep(0.05)  # wait-ok: deadline poll on the relay's counter
            if time.perf_counter() - t0 > 300:
                break
        seconds = time.perf_counter() - t0
        relay.stop()
        await runner
        await publisher.stop()
        await store.close()
        bench.broker.stop()
    return {"entries": count, "published": relay.published, "seconds": seconds}


STAFF_CHAIN = [
    ("case-handler", "alice"),
    ("ts-manager", "bob"),
    ("legal-counsel", "carol"),
    ("director", "dave"),
]


def _staff(staff_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer demo-{staff_id}-token"}


async def approval_to_effects(cases: int = 20) -> Figures:
    """From the final sign-off to the wiki block done and the email received (local wiki)."""
    with bench_environment(wiki=True) as bench:
        assert bench.wiki is not None and bench.mail is not None
        accounts = [f"Bench Target {n}" for n in range(cases)]
        for account in accounts:
            bench.wiki.maintenance("createAndPromote.php", account, f"bench-password-{account}")
        for name in ("notify", "enforcement", "review", "intake"):
            bench.start_service(name)
        block_ms: list[float] = []
        mail_ms: list[float] = []
        async with aiohttp.ClientSession() as http:
            for account in accounts:
                case_id = await _open_case(http, bench, account)
                email = f"{account.replace(' ', '.').lower()}@sandbox.test"
                t0 = await _approve(http, bench, case_id, account, email)
                blocked, mailed = await _effects(http, bench, account, email, t0)
                block_ms.append(blocked * 1000)
                mail_ms.append(mailed * 1000)
    return {
        "cases": cases,
        "block_p50_ms": percentile(block_ms, 50),
        "block_p99_ms": percentile(block_ms, 99),
        "mail_p50_ms": percentile(mail_ms, 50),
        "mail_p99_ms": percentile(mail_ms, 99),
    }


async def _open_case(http: aiohttp.ClientSession, bench: Bench, account: str) -> str:
    from bench.loadgen import intake_body

    body = intake_body(0)
    body["subject"] = {"account": account, "wikis": []}
    intake = f"http://127.0.0.1:{bench.ports.intake}/api/v1/requests"
    async with http.post(intake, json=body) as reply:
        assert reply.status == 202, await reply.text()
        reference = str((await reply.json())["reference"])
    case_id = "OA-" + reference.removeprefix("R-")
    review = f"http://127.0.0.1:{bench.ports.review}/api/v1/cases/{case_id}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with http.get(review, headers=_staff("alice")) as reply:
            if reply.status == 200:
                return case_id
        await asyncio.sleep(0.02)  # wait-ok: deadline poll for the case
    raise RuntimeError(f"review did not open {case_id}")


async def _approve(
    http: aiohttp.ClientSession, bench: Bench, case_id: str, account: str, email: str
) -> float:
    review = f"http://127.0.0.1:{bench.ports.review}/api/v1/cases/{case_id}"
    decision = {
        "subject": {"account": account, "email": email, "language": "en"},
        "wikis": [],
        "grounds": ["tou-4-harassment"],
        "public_rationale": "Sustained harassment of several contributors.",
    }
    async with http.put(f"{review}/decision", json=decision, headers=_staff("alice")) as reply:
        assert reply.status == 200, await reply.text()
    t0 = 0.0
    for level, staff in STAFF_CHAIN:
        t0 = time.perf_counter()
        signoff = {"level": level, "verdict": "approve", "comment": "approved"}
        async with http.post(f"{review}/signoffs", json=signoff, headers=_staff(staff)) as reply:
            assert reply.status == 201, await reply.text()
    return t0


async def _effects(
    http: aiohttp.ClientSession, bench: Bench, account: str, email: str, t0: float
) -> tuple[float, float]:
    assert bench.wiki is not None and bench.mail is not None
    params = {"action": "query", "list": "blocks", "bkusers": account, "format": "json"}
    blocked = mailed = 0.0
    deadline = time.monotonic() + 30
    while (not blocked or not mailed) and time.monotonic() < deadline:
        if not blocked:
            async with http.get(bench.wiki.api_url, params=params) as reply:
                if (await reply.json())["query"]["blocks"]:
                    blocked = time.perf_counter() - t0
        if not mailed and any(email in to for to in maildir_recipients(bench.root / "mail")):
            mailed = time.perf_counter() - t0
        await asyncio.sleep(0.005)  # wait-ok: deadline poll for the two effects
    if not blocked or not mailed:
        raise RuntimeError(f"{account}: blocked={blocked} mailed={mailed} after 30 s")
    return blocked, mailed


def maildir_recipients(path: Path) -> set[str]:
    if not (path / "new").exists():
        return set()
    return {str(m["To"]) for m in mailbox.Maildir(path, create=False)}


async def scale_out(instances: int, count: int, paced: tuple[float, int] | None = None) -> Figures:
    """End to end (tests/scale): ``count`` cases through intake's and review's HTTP APIs to
    ActionEnforced and the affected user's email, with N instances each of review,
    enforcement and notify over a two-wiki farm; one intake. With ``paced`` (rate, cases),
    then on the same cluster approval → email at that steady rate (bench/paced.py)."""
    from contextlib import ExitStack
    from tempfile import TemporaryDirectory

    from bench.environment import WIKI_CACHE
    from bench.paced import approval_to_email
    from deploy.sandbox_wiki import SandboxWiki
    from tests.scale.cases import plan_cases
    from tests.scale.cluster import running_cluster
    from tests.scale.effects import SENT
    from tests.scale.run import run_cases, start_services
    from tests.support import free_port

    with TemporaryDirectory(prefix="casework-scale-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        farm = {
            wiki_id: stack.enter_context(
                SandboxWiki(root / wiki_id, free_port(), cache_dir=WIKI_CACHE, workers=2)
            )
            for wiki_id in ("alphawiki", "betawiki")
        }
        with running_cluster(farm, root / "cluster") as cluster:
            start_services(cluster, instances)
            before = cpu.snapshot()
            outcome = await run_cases(cluster, plan_cases(count, 10), within=1800)
            spent = cpu.used(before, cpu.snapshot())
            at_rate = await approval_to_email(cluster, *paced) if paced else {}
    enforced = outcome.enforced_at - outcome.started_at
    if outcome.missing:
        raise RuntimeError(f"scale-out run: {len(outcome.missing)} notifications never sent")
    told = outcome.told_at - outcome.started_at
    # Approval → affected user emailed, per case, under the run's own load: from the final
    # sign-off's answer to notify's NotificationSent (its record time, after the SMTP send).
    emailed = {
        s.subject: s.at
        for s in outcome.watch.seen
        if s.kind == SENT and s.data.get("audience") == "affected-user"
        if s.data.get("channel") == "email"
    }
    approved = outcome.driven.approved_at
    latencies = [(emailed[c] - approved[c]) * 1000 for c in approved if c in emailed]
    return {
        "instances": instances,
        "cases": len(outcome.case_ids),
        "enforced_per_s": len(outcome.case_ids) / enforced,
        "told_per_s": len(outcome.case_ids) / told,
        "told_cases": len(latencies),
        "approval_to_email_p50_ms": percentile(latencies, 50),
        "approval_to_email_p99_ms": percentile(latencies, 99),
        "paced": at_rate,
        "cpu": spent,
    }

"""Scale-out: two instances each of review, enforcement and notify in one consumer group per
service, on the real Tansu broker, a real two-wiki MediaWiki farm and a real SMTP sink.

Every instance is its own process (`python -m services.<name>`); instances of a service share
its store (one SQLite file per service, or one MongoDB database per service) and its consumer
group. Cases enter through intake's HTTP API and are decided and signed through review's,
round-robin over the live review instances as a load balancer would send them.

The case mix (tests/scale/cases.py): conduct warnings (confidential: three emails, no wiki
call) and every tenth case a global ban over the farm (a block on each wiki, a public
statement on the log page, three emails and a functionary brief).

Exactly once is checked on the effects themselves: the Maildir (each expected email once, no
Message-ID twice), each wiki's block log and the log page's revisions and text.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from deploy.sandbox_wiki import SandboxWiki
from tests.fixtures.stores import Nx27017
from tests.scale.cases import plan_cases
from tests.scale.checks import (
    assert_exactly_once,
    assert_survivors_took_over,
    assert_work_shared,
    emails_exactly_once,
)
from tests.scale.cluster import Cluster, metric, running_cluster
from tests.scale.driver import Driven
from tests.scale.effects import TopicWatch
from tests.scale.run import CONSUMING, Outcome, run_cases, start_services

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# Enough cases to share the work over both instances of each service and, in the kill
# runs, to have hundreds entering after the kill (every partition then reaches the
# survivor); throughput at 1,000 cases and more is `make bench`'s to measure. 2,000 each
# (with 600 on nx-27017) made this file 16 of make test's 27 minutes.
CASES = 500
KILL_CASES = 600
MONGO_CASES = 300  # nx-27017 is slower than SQLite
BAN_EVERY = 10


@pytest.fixture
def cluster(fresh_farm: dict[str, SandboxWiki], tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(fresh_farm, tmp_path / "cluster") as running:
        yield running


async def test_two_instances_share_the_work_exactly_once(cluster: Cluster) -> None:
    start_services(cluster, instances=2)
    outcome = await run_cases(cluster, plan_cases(CASES, BAN_EVERY))
    print(outcome.summary())
    cluster.stop()  # nothing in flight any more: the effects below are final

    assert len(outcome.case_ids) == CASES
    await assert_exactly_once(cluster, outcome)
    assert_work_shared(outcome)


async def test_sigkill_one_instance_of_each_mid_run(cluster: Cluster) -> None:
    """SIGKILL review-2, enforcement-2 and notify-2 once a third of the cases are approved;
    review-1, enforcement-1 and notify-1 take over their partitions and duties."""
    start_services(cluster, instances=2)
    outcome = await run_cases(
        cluster, plan_cases(KILL_CASES, BAN_EVERY), kill_after=KILL_CASES // 3
    )
    print(outcome.summary())
    survivors_after = {
        p.name: metric(p.url, "consumer_events_handled")
        for service in CONSUMING
        for p in cluster.live(service)
    }
    cluster.stop()

    assert len(outcome.case_ids) == KILL_CASES
    await assert_exactly_once(cluster, outcome)
    assert_work_shared(outcome)
    assert_survivors_took_over(outcome, survivors_after)


@pytest.fixture
def mongo_cluster(
    fresh_farm: dict[str, SandboxWiki], tmp_path: Path, nx27017: Nx27017
) -> Iterator[Cluster]:
    """The services' documents in nx-27017 (a MongoDB wire-protocol server; MongoDB itself
    cannot be installed here), one database per service as in production."""
    databases = [f"casework_{s}" for s in ("intake", *CONSUMING)]

    def drop() -> None:
        for name in databases:
            nx27017.admin.drop_database(name)

    drop()
    extra = {"MONGODB_URI": nx27017.database_url("casework")}
    with running_cluster(fresh_farm, tmp_path / "cluster", extra) as running:
        yield running
    drop()


async def test_sigkill_mid_run_on_mongodb(mongo_cluster: Cluster) -> None:
    """The SIGKILL run with every store on MongoDB (nx-27017)."""
    cluster = mongo_cluster
    start_services(cluster, instances=2)
    outcome = await run_cases(
        cluster, plan_cases(MONGO_CASES, BAN_EVERY), kill_after=MONGO_CASES // 3
    )
    print(outcome.summary())
    survivors_after = {
        p.name: metric(p.url, "consumer_events_handled")
        for service in CONSUMING
        for p in cluster.live(service)
    }
    cluster.stop()

    assert len(outcome.case_ids) == MONGO_CASES
    assert list((cluster.root / "data").rglob("*.sqlite3")) == []
    client: MongoClient[dict[str, object]]
    with MongoClient(cluster.extra_env["MONGODB_URI"]) as client:
        assert client["casework_review"]["cases"].count_documents({}) == MONGO_CASES
    await assert_exactly_once(cluster, outcome)
    assert_work_shared(outcome)
    assert_survivors_took_over(outcome, survivors_after)


def test_the_email_check_catches_a_repeat_and_a_loss(tmp_path: Path) -> None:
    """The exactly-once check on the Maildir can fail: one email twice, one never; copies
    across a kill are accepted up to the sends in flight (here 1), and only as two copies
    either side of the kill."""
    cases = plan_cases(2, BAN_EVERY)  # a ban and a warning
    outcome = Outcome(cases, Driven(), TopicWatch("unused:9092"))
    for case in cases:
        case_id = f"OA-CHECK{case.n}"
        outcome.driven.cases[case_id] = case
        outcome.driven.references[case_id] = f"R-CHECK{case.n}"
    mail = tmp_path / "mail"
    mailbox.Maildir(mail)  # creates new/, cur/, tmp/
    wanted = [
        (message_id, to)
        for case_id, case in outcome.driven.cases.items()
        for (message_id, _), to in zip(
            case.expected_messages(case_id, outcome.driven.references[case_id]).items(),
            case.expected_emails(),
            strict=True,
        )
    ]

    def deliver(at: float, message_id: str, to: str) -> Path:
        """Store a message as the sink would at ``at`` (the Maildir name carries the time)."""
        path = mail / "new" / f"{int(at)}.M{int(at % 1 * 1e6)}P1Q{len(list(mail.rglob('*')))}.t"
        path.write_text(f"Message-ID: {message_id}\nTo: {to}\nSubject: s\n\nbody\n")
        return path

    for n, (message_id, to) in enumerate(wanted):
        deliver(1000.0 + n, message_id, to)
    assert emails_exactly_once(mail, outcome, [], in_flight=1) == []

    repeated, lost = wanted[0], wanted[-1]
    again = deliver(2000.0, *repeated)
    next(p for p in (mail / "new").iterdir() if lost[0] in p.read_text()).unlink()
    problems = emails_exactly_once(mail, outcome, [], in_flight=1)
    assert problems[0].startswith(f"email sent 2 times: {repeated[0]}")
    assert problems[1].startswith("1 emails never sent: {'affected-user notice': 1}")

    deliver(1000.0 + len(wanted) - 1, *lost)
    outcome.notify_deaths = [1500.0]  # the first copy before the kill, the second after it
    assert emails_exactly_once(mail, outcome, [], in_flight=1) == []
    assert list(outcome.resent) == [repeated[0]]
    deliver(2001.0, *wanted[1])  # a second repeat across the same kill: not accepted
    problems = emails_exactly_once(mail, outcome, [], in_flight=1)
    assert sorted(p.split(" to ")[0] for p in problems) == sorted(
        f"email sent 2 times: {message_id}" for message_id in (repeated[0], wanted[1][0])
    )
    again.unlink()
    deliver(1200.0, *repeated)  # both copies before the kill: not accepted
    problems = emails_exactly_once(mail, outcome, [], in_flight=1)
    assert problems[0].startswith(f"email sent 2 times: {repeated[0]}")

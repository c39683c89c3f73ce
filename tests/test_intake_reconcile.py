"""Intake's tracking pages reconciled from review's ledger: a report of where a case stands
that the bus lost (the broker restarted, and Tansu keeps its topics in memory) still reaches
the requester's page, once; of what review's ledger lists, nothing but that public-level
type enters intake's store.

Real parts: the Tansu broker (this module's own, killed and started again to lose its
topics), intake as `serve()` runs it over a SQLite file, and review's ledger as review serves
it: casework.ledger over a SQLite store whose outbox holds what review published, of the
types services.review.app.LEDGER_TYPES names, behind the review-intake pair's token.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from casework.cloudevents import CloudEvent
from casework.contract import (
    AffectedUser,
    CaseProgressed,
    DuplicateMerged,
    IntakeCaseUnreconciled,
    SubmissionKind,
    to_cloudevent,
    topic_of,
)
from casework.http import make_app
from casework.kafka import EventPublisher
from casework.ledger import Ledger
from casework.reconcile import GAPS
from casework.signing import generate_key_pair, load_signer
from casework.store import DocumentStore, OutboxMessage, open_store
from casework.trust import sign_event
from deploy.broker import TansuBroker
from services.intake.adapters.progress import PROGRESS
from services.intake.settings import IntakeSettings
from services.intake.usecases import Submissions
from services.review.app import LEDGER_TYPES
from tests.fixtures.broker import sigkill_and_restart, started_broker, unique
from tests.support import eventually, topic_events
from tests.test_enforcement_domain import approved
from tests.test_intake_api import Intake, example, post, running_intake, settings_for
from tests.test_intake_progress import NOW, report, store, submissions, submitted  # noqa: F401

pytestmark = pytest.mark.timeout(240)

TOKEN = "review-to-intake-pair-token-0123456789"
RECONCILE_SECONDS = 0.5
AGED = timedelta(hours=1)  # older than the duty's grace: the consumer is not about to read it
# What review's other events carry and intake may never keep: the affected account, its
# address, the decision's rationale, and a field a report might smuggle in.
SMUGGLED = "smuggled-requester@example.org"
AFFECTED = AffectedUser(account="Decided Upon Account", email="decided-upon@example.org")
RATIONALE = "The rationale of a decision intake never sees."
PRIVATE = (AFFECTED.account, str(AFFECTED.email), RATIONALE, SMUGGLED)


@pytest.fixture(scope="module")
def kafka_broker() -> Iterator[TansuBroker]:
    """A broker of this module's own: it is killed to lose its topics."""
    with started_broker() as broker:
        yield broker


@pytest.fixture(scope="module")
async def review_store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DocumentStore]:
    store = await open_store(f"sqlite:///{tmp_path_factory.mktemp('review') / 'review.sqlite3'}")
    yield store
    await store.close()


@pytest.fixture(scope="module")
async def review_ledger(review_store: DocumentStore) -> AsyncIterator[str]:
    """Review's ledger, as review serves it: its published outbox, the ledger's types."""
    app = make_app(registry=CollectorRegistry(), health_checks={})
    Ledger(review_store, LEDGER_TYPES, ["review-to-notify-token-98765", TOKEN]).register(app)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def review_published(review_store: DocumentStore, events: list[CloudEvent]) -> None:
    """Each event in review's outbox with a write of its own, published (its kept history)."""
    for item in events:
        await review_store.insert(
            "cases_written", {"_id": item.id}, outbox=[OutboxMessage(topic_of("review"), item)]
        )
    await review_store.mark_published(await review_store.pending_outbox(1000))


def aged(data: Any) -> CloudEvent:
    return replace(to_cloudevent(data), time=datetime.now(UTC) - AGED)


def progressed(reference: str, stage: str, at: datetime, **extra: Any) -> CloudEvent:
    data = CaseProgressed(
        case_id="OA-" + reference[2:], submission_id=reference, stage=stage, at=at, **extra
    )
    return aged(data)


@dataclass
class Scenario:
    settings: IntakeSettings
    lost: str  # a submission whose reports only review's ledger still has
    delivered: str  # a submission whose report intake read from the bus before the loss
    stranger: str  # a submission id this intake never stored
    until: datetime
    metrics: str  # intake's, after its first pass over review's ledger since the loss


async def status_of(http: aiohttp.ClientSession, intake: Intake, reference: str) -> Any:
    async with http.get(f"{intake.url}/api/v1/submissions/{reference}") as reply:
        assert reply.status == 200, await reply.text()
        return await reply.json()


async def metrics_of(http: aiohttp.ClientSession, intake: Intake) -> str:
    async with http.get(f"{intake.url}/metrics") as reply:
        return await reply.text()


def counted(text: str, name: str) -> float:
    line = f'{name}{{upstream="review"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    assert found, f"{name} for review not exported"
    return float(found[0].split()[-1])


async def after_a_pass(http: aiohttp.ClientSession, intake: Intake) -> str:
    """Intake's metrics once its duty finished a pass over review's ledger."""

    async def probe() -> str | None:
        text = await metrics_of(http, intake)
        return text if counted(text, "reconcile_passes") >= 1 else None

    return await eventually(probe, timeout=60, what="a pass over review's ledger")


async def submit(http: aiohttp.ClientSession, intake: Intake) -> str:
    status, body, _ = await post(
        http, intake.submissions_url("request"), example(SubmissionKind.REQUEST)
    )
    assert status == 202, body
    reference: str = body["reference"]
    return reference


async def review_reads_on_the_bus(
    broker: TansuBroker, review_store: DocumentStore, events: list[CloudEvent]
) -> None:
    """Review's publishing: on its topic, and kept in its outbox history (the ledger)."""
    publisher = EventPublisher(broker.settings(client_id=unique("review")))
    await publisher.start()
    try:
        for item in events:
            await publisher.publish(topic_of("review"), item)
    finally:
        await publisher.stop()
    await review_published(review_store, events)


@pytest.fixture(scope="module")
async def scenario(
    kafka_broker: TansuBroker,
    review_store: DocumentStore,
    review_ledger: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Scenario:
    data_dir = tmp_path_factory.mktemp("intake")
    token_file = data_dir / "ledger-review-intake.token"
    token_file.write_text(TOKEN)
    settings = settings_for(data_dir, kafka_broker).model_copy(
        update={
            "review_ledger_url": review_ledger,
            "review_ledger_token_file": token_file,
            "reconcile_seconds": RECONCILE_SECONDS,
        }
    )
    now = datetime.now(UTC) - timedelta(minutes=5)
    until = now + timedelta(days=365)
    async with aiohttp.ClientSession() as http:
        async with running_intake(settings) as intake:
            lost, delivered = await submit(http, intake), await submit(http, intake)
            read = progressed(delivered, "under-review", now)
            await review_reads_on_the_bus(kafka_broker, review_store, [read])

            async def read_from_the_bus() -> bool:
                found = await status_of(http, intake, delivered)
                return bool(found["status"] == "under-review")

            await eventually(read_from_the_bus, what="the bus's report on the tracking page")
        # While intake is down, review reports on the submission and decides its case.
        signer = load_signer(generate_key_pair(data_dir / "review-key")[0])
        decision = approved(subject=AFFECTED, public_rationale=RATIONALE).model_copy(
            update={"case_id": "OA-" + lost[2:]}
        )
        merged = DuplicateMerged(
            case_id="OA-" + lost[2:],
            duplicate_case_id="OA-DUPLICATE",
            duplicate_submission_id="SR-DUPLICATE",
            merged_by="Carol",
            merged_at=now,
        )
        stranger = "SR-NOT-HERE-" + unique("x")[2:]
        await review_reads_on_the_bus(
            kafka_broker,
            review_store,
            [
                progressed(lost, "under-review", now),
                sign_event(aged(decision), signer),
                sign_event(aged(merged), signer),
                smuggling(
                    progressed(lost, "approved", now + timedelta(seconds=1), appeal_until=until)
                ),
                progressed(stranger, "under-review", now),
            ],
        )
        # The broker dies before intake reads them: its topics (in memory) are gone.
        await asyncio.to_thread(sigkill_and_restart, kafka_broker)
        assert await topic_events(kafka_broker.bootstrap, topic_of("review")) == []
        async with running_intake(settings) as intake:
            metrics = await after_a_pass(http, intake)
    return Scenario(settings, lost, delivered, stranger, until, metrics)


def smuggling(event: CloudEvent) -> CloudEvent:
    """A report carrying a field the contract does not have (readers ignore such fields)."""
    return replace(event, data={**event.data, "requester_email": SMUGGLED})


async def stored(settings: IntakeSettings, collection: str) -> list[dict[str, Any]]:
    store = await open_store(f"sqlite:///{settings.data_dir / 'intake.sqlite3'}")
    try:
        return await store.find(collection)
    finally:
        await store.close()


def everything_stored(settings: IntakeSettings) -> str:
    """Every row of intake's store file, as SQL text (the write-ahead log included)."""
    connection = sqlite3.connect(settings.data_dir / "intake.sqlite3")
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()


async def test_a_report_the_bus_lost_reaches_the_tracking_page_from_reviews_ledger(
    scenario: Scenario, http: aiohttp.ClientSession
) -> None:
    async with running_intake(scenario.settings) as intake:
        found = await status_of(http, intake, scenario.lost)
        assert found["status"] == "approved"
        assert [h["status"] for h in found["history"]] == ["received", "under-review", "approved"]
        assert datetime.fromisoformat(found["appeal_open_until"]) == scenario.until
        async with http.get(
            f"{intake.url}/submissions/{scenario.lost}", headers={"Accept-Language": "en"}
        ) as reply:
            assert reply.status == 200
            page = await reply.text()
        assert "You may appeal until" in page and scenario.lost in page
    # Finished from the ledger: the lost submission's two reports, not the one the bus
    # delivered before the loss (found already recorded), nor the approvals and merges.
    assert counted(scenario.metrics, "reconcile_gaps_finished") == 2
    assert counted(scenario.metrics, "reconcile_items_checked") >= 6


async def test_nothing_but_the_public_report_enters_intakes_store(scenario: Scenario) -> None:
    progress = {doc["_id"]: doc for doc in await stored(scenario.settings, PROGRESS)}
    assert set(progress) == {scenario.lost, scenario.delivered}
    assert set(progress[scenario.lost]) - {"_version"} == {
        "_id",
        "case_id",
        "stage",
        "at",
        "appeal_until",
        "history",
    }
    dump = everything_stored(scenario.settings)
    for private in PRIVATE:
        assert private not in dump
    assert "decision-approved" not in dump and "duplicate-merged" not in dump


async def test_a_report_for_no_submission_here_is_kept_as_a_gap_once_and_not_tracked(
    scenario: Scenario,
) -> None:
    gaps = await stored(scenario.settings, GAPS)
    assert [gap["case_id"] for gap in gaps] == ["OA-" + scenario.stranger[2:]]
    assert "still not done" in gaps[0]["reason"]
    assert counted(scenario.metrics, "reconcile_gaps_unfinishable") == 1
    # Reported once, for the monitor to alert on, naming the case and the upstream event.
    reported = [
        e
        for e in await topic_events(scenario.settings.kafka_bootstrap, topic_of("intake"))
        if e.type == IntakeCaseUnreconciled.TYPE
    ]
    assert [(e.subject, e.data["upstream"]) for e in reported] == [(gaps[0]["case_id"], "review")]


async def test_a_second_reconcile_changes_nothing(
    scenario: Scenario, http: aiohttp.ClientSession
) -> None:
    before = await stored(scenario.settings, PROGRESS)
    gaps = await stored(scenario.settings, GAPS)
    # Started again: a full pass from the start of review's ledger.
    async with running_intake(scenario.settings) as intake:
        metrics = await after_a_pass(http, intake)
    assert counted(metrics, "reconcile_items_checked") >= 6
    assert counted(metrics, "reconcile_gaps_finished") == 0
    assert await stored(scenario.settings, PROGRESS) == before  # not even a version moved
    assert await stored(scenario.settings, GAPS) == gaps


async def test_a_report_counts_as_recorded_once_folded_in_or_outdone(
    submissions: Submissions,
) -> None:
    """What the duty asks before it feeds a report (real SQLite store): taken in already?"""
    reference = await submitted(submissions)
    first = report(reference, "under-review", NOW)
    later = report(reference, "approved", NOW + timedelta(minutes=1))
    assert not await submissions.recorded(first)
    await submissions.case_progressed(later)
    assert await submissions.recorded(later)
    assert not await submissions.recorded(first)  # older, but a step not seen yet
    await submissions.case_progressed(first)
    assert await submissions.recorded(first) and await submissions.recorded(later)
    assert not await submissions.recorded(report("SR-NOT-HERE", "under-review", NOW))

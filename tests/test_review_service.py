"""The review service as `python -m services.review` runs it (in this event loop), on the
real Tansu broker and SQLite: deadline events are published on time and exactly once,
across a restart of the service."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from casework.cloudevents import CloudEvent
from casework.contract import (
    Channel,
    DeadlineAtRisk,
    DeadlineBreached,
    Requester,
    SubmissionKind,
    SubmissionReceived,
    topic_of,
)
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.store import open_store
from deploy.broker import TansuBroker
from deploy.credentials import BusCredentials
from services.review.adapters.staff_file import load_staff
from services.review.app import wire
from services.review.domain.opening import case_id_for
from services.review.settings import ReviewSettings
from services.review.usecases import ReviewCases
from tests.fixtures.keys import install_keys, session_signer
from tests.support import eventually, free_port, serving, topic_events

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
TOPIC = topic_of("review")


def settings_for(data_dir: Path, broker: TansuBroker) -> ReviewSettings:
    return ReviewSettings(
        data_dir=data_dir,
        port=free_port(),
        kafka_bootstrap=broker.bootstrap,
        kafka_session_timeout_ms=1500,
        deadline_scan_seconds=0.1,
        **BusCredentials.default().service_environment("review"),
    )


def running_review(settings: ReviewSettings) -> AbstractAsyncContextManager[str]:
    return serving(settings, wire, settings.port)


async def scans(url: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as reply:
        text = await reply.text()
    [line] = [x for x in text.splitlines() if x.startswith("review_deadline_scans ")]
    return float(line.split()[1])


async def review_events(bootstrap: str) -> list[CloudEvent]:
    return await topic_events(bootstrap, TOPIC)


def deadline_events(events: list[CloudEvent], case_ids: set[str]) -> list[tuple[str, str]]:
    kinds = {DeadlineAtRisk.TYPE: "at-risk", DeadlineBreached.TYPE: "breached"}
    return sorted(
        (e.subject, kinds[e.type]) for e in events if e.type in kinds and e.subject in case_ids
    )


def report(submission_id: str, received_at: datetime) -> SubmissionReceived:
    return SubmissionReceived(
        submission_id=submission_id,
        kind=SubmissionKind.CHILD_PROTECTION_REPORT,
        channel=Channel.FORM,
        action_type="child-protection",
        routed_to="legal",
        summary="Reported content.",
        requester=Requester(name="Reporter", email="reporter@example.org"),
        received_at=received_at,
        urgent=True,
    )


async def test_deadline_events_are_published_once_across_a_restart(
    kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path / "data", kafka_broker)
    settings.data_dir.mkdir(parents=True)
    install_keys(settings.data_dir)
    now = datetime.now(UTC)
    # Cases stored before the service runs: one past its 24-hour deadline, one at risk
    # (the policy's last quarter), one with time to spare.
    run = uuid.uuid4().hex[:8].upper()
    store = await open_store(settings.store_url)
    try:
        staff = load_staff(settings.staff_file, POLICY)
        by_id = {m.id: m for m in staff.staff}

        async def never(topic: str, event: CloudEvent) -> None:
            raise AssertionError("not relayed here")

        cases = ReviewCases(
            store, OutboxRelay(store, never), POLICY, by_id.get, session_signer(), lambda: now
        )
        ids = []
        for n, hours in enumerate([30, 20, 1]):
            submission = report(f"R-DL{run}{n}", now - timedelta(hours=hours))
            await cases.submission_received(submission)
            ids.append(case_id_for(submission.submission_id))
    finally:
        await store.close()
    breached, at_risk, fine = ids
    expected = sorted([(breached, "at-risk"), (breached, "breached"), (at_risk, "at-risk")])

    async with running_review(settings) as url:

        async def published() -> bool:
            events = await review_events(kafka_broker.bootstrap)
            return deadline_events(events, set(ids)) == expected

        await eventually(published, what="the deadline events")

    async with running_review(settings) as url:
        # Two full scans of the restarted service: whatever it would raise, it has raised.
        async def scanned() -> bool:
            return await scans(url) >= 2

        await eventually(scanned, what="two deadline scans after the restart")
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{url}/api/v1/cases/{breached}",
                headers={"Authorization": "Bearer demo-carol-token"},
            ) as reply,
        ):
            case = await reply.json()
            assert reply.status == 200, case

    # A read of the topic can come back short while the broker settles after the restart;
    # read again until it holds what was seen before, then nothing may be there twice.
    async def complete() -> list[CloudEvent] | None:
        events = await review_events(kafka_broker.bootstrap)
        return events if set(deadline_events(events, set(ids))) >= set(expected) else None

    events = await eventually(complete, what="the deadline events after the restart")
    assert deadline_events(events, set(ids)) == expected
    opening = {"officeactions.review.case-opened.v1", "officeactions.review.case-progressed.v1"}
    assert fine not in {e.subject for e in events if e.type not in opening}
    assert case["deadline"]["breached_flagged"] is True
    assert [e["action"] for e in case["timeline"]][-2:] == ["deadline-at-risk", "deadline-breached"]

"""A requester tracks their submission: review's CaseProgressed reports recorded by intake's
use case, and shown by the JSON API and the tracking page (English and Russian).

Real parts: a SQLite store file for the use case; for the service, intake as `serve()` runs
it (SQLite, its consumer in group casework-intake) and the Tansu broker the reports are
published on, on review's topic, as review publishes them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from casework.cloudevents import CloudEvent
from casework.contract import CaseProgressed, Channel, SubmissionKind, to_cloudevent, topic_of
from casework.kafka import EventPublisher
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.store import DocumentStore, open_store
from deploy.broker import TansuBroker
from services.intake.adapters.progress import PROGRESS
from services.intake.domain.rules import Rules
from services.intake.policy import rules_of
from services.intake.usecases import Submissions
from tests.fixtures.broker import started_broker
from tests.support import eventually
from tests.test_intake_api import (
    EXAMPLES,
    POLICY_FILE,
    Intake,
    example,
    post,
    running_intake,
    settings_for,
)

POLICY = load_policy(POLICY_FILE)
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
APPEAL_UNTIL = NOW + timedelta(days=365)
PRIVATE = ("rita@example.org", "Rita", EXAMPLES[SubmissionKind.REQUEST]["summary"][:20])


def report(
    reference: str, stage: Any, at: datetime, appeal_until: datetime | None = None
) -> CaseProgressed:
    return CaseProgressed(
        case_id="OA-" + reference[2:],
        submission_id=reference,
        stage=stage,
        appeal_until=appeal_until,
        at=at,
    )


# --- the use case over a real SQLite store --------------------------------------------------


async def _unpublished(topic: str, event: CloudEvent) -> None:
    raise AssertionError("nothing is published in these tests")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DocumentStore]:
    opened = await open_store(f"sqlite:///{tmp_path / 'intake.sqlite3'}")
    yield opened
    await opened.close()


@pytest.fixture
async def submissions(store: DocumentStore) -> Submissions:
    rules = Rules(POLICY, rules_of(POLICY), frozenset({"127.0.0.1"}))
    # The relay is not run: a submission stays in the outbox, which these tests do not read.
    subs = Submissions(store, OutboxRelay(store, _unpublished), rules, clock=lambda: NOW)
    await subs.prepare()
    return subs


async def submitted(submissions: Submissions) -> str:
    accepted = await submissions.submit(
        SubmissionKind.REQUEST,
        example(SubmissionKind.REQUEST),
        channel=Channel.API,
        idempotency_key=None,
    )
    return accepted.reference


async def test_reports_are_recorded_once_and_an_older_one_never_wins(
    submissions: Submissions, store: DocumentStore
) -> None:
    reference = await submitted(submissions)
    before = await submissions.status(reference)
    assert before is not None and before.status == "received"
    enforced = report(reference, "enforced", NOW + timedelta(minutes=3), APPEAL_UNTIL)
    await submissions.case_progressed(report(reference, "under-review", NOW))
    await submissions.case_progressed(enforced)
    [stored] = await store.find(PROGRESS)
    # The same report again and a late, older one: the stored document is not rewritten.
    await submissions.case_progressed(enforced)
    await submissions.case_progressed(report(reference, "under-review", NOW))
    assert await store.find(PROGRESS) == [stored]
    late = report(reference, "approved", NOW + timedelta(minutes=2), APPEAL_UNTIL)
    await submissions.case_progressed(late)
    found = await submissions.status(reference)
    assert found is not None
    assert found.status == "enforced"
    assert [s.stage for s in found.history] == ["received", "under-review", "approved", "enforced"]
    assert found.appeal_open_until == APPEAL_UNTIL


async def test_a_report_for_no_submission_of_this_store_is_not_kept(
    submissions: Submissions, store: DocumentStore
) -> None:
    await submissions.case_progressed(report("R-AAAAAAAAAAAA", "under-review", NOW))
    assert await store.find(PROGRESS) == []
    assert await submissions.status("R-AAAAAAAAAAAA") is None


async def test_two_instances_recording_at_once_keep_both_reports(
    submissions: Submissions, store: DocumentStore
) -> None:
    """Two use cases on one store (two instances): the second insert of the first report
    loses and is applied as a change; a concurrent change is applied again."""
    reference = await submitted(submissions)
    other = Submissions(store, submissions.relay, submissions.rules, clock=lambda: NOW)
    await asyncio.gather(
        submissions.case_progressed(report(reference, "under-review", NOW)),
        other.case_progressed(report(reference, "waiting-for-you", NOW + timedelta(minutes=1))),
    )
    found = await submissions.status(reference)
    assert found is not None and found.status == "waiting-for-you"
    assert [s.stage for s in found.history] == ["received", "under-review", "waiting-for-you"]


# --- the service: consumer, JSON API and the tracking page ------------------------------------


@pytest.fixture(scope="module")
def kafka_broker() -> Iterator[TansuBroker]:
    """A broker of this module's own (overriding the session's): on the session's broker
    the group casework-intake has seen other modules' intakes come and go, and Tansu can
    keep a departed member as the group's leader, so a new member never gets its
    assignment (its SyncGroup fails "rebalancing" forever; see the session note)."""
    with started_broker() as broker:
        yield broker


@pytest.fixture(scope="module")
async def intake(
    kafka_broker: TansuBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Intake]:
    async with running_intake(
        settings_for(tmp_path_factory.mktemp("tracking"), kafka_broker)
    ) as it:
        yield it


async def status_of(http: aiohttp.ClientSession, intake: Intake, reference: str) -> Any:
    async with http.get(f"{intake.url}/api/v1/submissions/{reference}") as reply:
        assert reply.status == 200
        return await reply.json()


async def page(http: aiohttp.ClientSession, url: str, language: str) -> tuple[int, str]:
    async with http.get(url, headers={"Accept-Language": language}) as reply:
        return reply.status, await reply.text()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_review_reports_reach_the_json_and_the_page_in_both_languages(
    intake: Intake, http: aiohttp.ClientSession, publisher: EventPublisher
) -> None:
    status, body, _ = await post(
        http, intake.submissions_url("request"), example(SubmissionKind.REQUEST)
    )
    assert status == 202, body
    reference = body["reference"]
    first = await status_of(http, intake, reference)
    assert first["status"] == "received" and first["appeal_open_until"] is None
    assert first["history"] == [{"status": "received", "at": first["received_at"]}]

    # Review's reports, one of them twice and an older one last (as a replay would).
    now = datetime.now(UTC)
    until = now + timedelta(days=365)
    reports = [
        report(reference, "under-review", now),
        report(reference, "approved", now + timedelta(seconds=2), until),
        report(reference, "enforced", now + timedelta(seconds=3), until),
        report(reference, "enforced", now + timedelta(seconds=3), until),
        report(reference, "waiting-for-you", now + timedelta(seconds=1)),
    ]
    for event in reports:
        await publisher.publish(topic_of("review"), to_cloudevent(event))

    async def all_seen() -> Any:
        found = await status_of(http, intake, reference)
        return found if len(found["history"]) == 5 else None

    found = await eventually(all_seen, what="the five stages on the status")
    assert found["status"] == "enforced"
    assert [h["status"] for h in found["history"]] == [
        "received",
        "under-review",
        "waiting-for-you",
        "approved",
        "enforced",
    ]
    assert datetime.fromisoformat(found["appeal_open_until"]) == until
    assert set(found) == {
        "reference",
        "kind",
        "status",
        "received_at",
        "history",
        "appeal_open_until",
    }

    url = f"{intake.url}/submissions/{reference}"
    code, english = await page(http, url, "en-GB")
    assert code == 200
    words = text_of(english)
    assert "Decided — action carried out" in words and "You may appeal until" in words
    assert "Waiting for you" in words and reference in words
    code, russian = await page(http, url, "ru-RU,ru;q=0.9")
    assert code == 200 and '<html lang="ru">' in russian
    words = text_of(russian)
    assert "Решено — действие выполнено" in words and "Обжаловать решение можно до" in words
    assert "Ждём вашего ответа" in words
    for private in PRIVATE:
        assert private not in english and private not in russian
        assert private not in str(found)


async def test_the_confirmation_page_links_to_the_tracking_page(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await post(
        http, intake.submissions_url("inquiry"), example(SubmissionKind.INQUIRY)
    )
    assert status == 202, body
    reference = body["reference"]
    code, html = await page(http, f"{intake.url}/submit/received/{reference}", "en")
    assert code == 200
    assert f'href="/submissions/{reference}"' in html
    code, html = await page(http, f"{intake.url}/submissions/{reference}", "en")
    assert code == 200 and "Received" in text_of(html)


async def test_an_unknown_reference_is_a_404_page_and_a_json_error_naming_it(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    for language, title in (("en", "There is no such page"), ("ru", "Такой страницы нет")):
        code, html = await page(http, f"{intake.url}/submissions/R-AAAAAAAAAAAA", language)
        assert code == 404 and title in html
    async with http.get(f"{intake.url}/api/v1/submissions/R-AAAAAAAAAAAA") as reply:
        assert reply.status == 404
        body = await reply.json()
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("reference", "exists")]
    # Nothing lists submissions.
    for path in ("/submissions", "/submissions/", "/api/v1/submissions"):
        async with http.get(f"{intake.url}{path}") as reply:
            assert reply.status in (404, 405), path

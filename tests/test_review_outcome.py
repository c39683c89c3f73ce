"""Review learns where a case really is: enforcement's and notify's events folded into the
case's outcome (services/review/domain/outcome.py), idempotent and independent of the order they
arrive in, shown by the JSON API and on the console's case page (English and Russian).

The pure fold first; then review in this process over real HTTP and SQLite (built by its
own `wire`), the events delivered through its handler as the consumer delivers them, and
the page read in a real headless Chromium."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import aiohttp
from playwright.async_api import Browser

from casework.contract import (
    ActionEnforced,
    AffectedUser,
    Audience,
    DecisionApproved,
    EventData,
    OperationOutcome,
    OperationStatus,
    to_cloudevent,
)
from casework.policy.notify import NotifyRules
from services.review.domain.outcome import Outcome, OutcomeEvent, fold, silent_audiences
from tests.review_support import module_review  # noqa: F401 (the review fixture)
from tests.test_contract import EXAMPLES
from tests.test_review_auth_support import POLICY, Review, receive, submission
from tests.test_review_console_pages import sign_in

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
DECISION = cast(DecisionApproved, EXAMPLES["DecisionApproved"]).decision


def like(name: str, **changes: Any) -> Any:
    example = EXAMPLES[name]
    return example.model_validate({**example.model_dump(), **changes})


def op(wiki: str, status: OperationStatus = OperationStatus.DONE, **more: Any) -> OperationOutcome:
    return OperationOutcome(
        wiki=wiki, kind="block", target="Troublesome Editor", status=status, **more
    )


def enforced(case_id: str, at: datetime, *ops: OperationOutcome) -> ActionEnforced:
    return ActionEnforced(
        case_id=case_id,
        decision=DECISION,
        operations=list(ops) or [op("enwiki"), op("dewiki")],
        enforced_at=at,
    )


def story(case_id: str = "OA-1") -> list[EventData]:
    """dewiki fails once and then works; the affected user and the public are told."""
    return [
        like(
            "EnforcementFailed",
            case_id=case_id,
            wiki="dewiki",
            permanent=False,
            attempt=1,
            failed_at=T0,
        ),
        enforced(case_id, T0 + timedelta(minutes=1)),
        like(
            "NotificationSent",
            case_id=case_id,
            audience=Audience.AFFECTED_USER,
            sent_at=T0 + timedelta(minutes=2),
        ),
        like(
            "NotificationFailed",
            case_id=case_id,
            audience=Audience.PUBLIC,
            channel="wiki-page",
            permanent=False,
            failed_at=T0 + timedelta(minutes=2),
        ),
        like(
            "NotificationSent",
            case_id=case_id,
            audience=Audience.PUBLIC,
            channel="wiki-page",
            sent_at=T0 + timedelta(minutes=3),
        ),
    ]


def folded(events: list[EventData], start: Outcome | None = None) -> Outcome:
    outcome = start or Outcome()
    for data in events:
        outcome = fold(outcome, cast(OutcomeEvent, data))
    return outcome


# --- the fold ---------------------------------------------------------------------------------


def test_an_enforced_and_told_case() -> None:
    outcome = folded(story())
    assert outcome.status == "enforced"
    assert outcome.enforced_at == T0 + timedelta(minutes=1)
    assert outcome.wikis == {"dewiki": "done", "enwiki": "done"}
    assert outcome.told == {"affected-user": "sent", "public": "sent"}


def test_the_outcome_does_not_depend_on_the_order_events_arrive_in_or_repeats() -> None:
    events = story()
    expected = folded(events)
    for order in itertools.permutations(events):
        assert folded(list(order)) == expected
    shuffle = random.Random(15)
    for _ in range(20):
        repeated = events + events[: shuffle.randint(1, len(events))]
        shuffle.shuffle(repeated)
        assert folded(repeated) == expected
    assert fold(expected, cast(OutcomeEvent, events[1])) == expected


def test_failures_per_wiki_retrying_then_for_good() -> None:
    retrying = folded(story()[:1])
    assert retrying.status == "retrying" and retrying.wikis == {"dewiki": "retrying"}
    [failure] = retrying.operations
    assert failure.attempt == 1 and failure.detail.startswith("permissiondenied")
    given_up = folded(
        [like("EnforcementFailed", case_id="OA-1", wiki="dewiki", permanent=True, attempt=5)]
    )
    assert given_up.status == "failed" and given_up.wikis == {"dewiki": "failed"}
    partly = folded(
        [
            enforced(
                "OA-1",
                T0 + timedelta(hours=1),
                op("enwiki"),
                op("dewiki", OperationStatus.FAILED, detail="blocked: no rights"),
            )
        ],
        given_up,
    )
    assert partly.status == "partly-enforced"
    assert partly.wikis == {"dewiki": "failed", "enwiki": "done"}


def test_a_reversal_an_expiry_and_a_restoration() -> None:
    outcome = folded(story())
    restored = fold(
        outcome,
        like(
            "ActionRestored",
            case_id="OA-1",
            operation=op("enwiki", result_id=99),
            restored_at=T0 + timedelta(hours=1),
        ),
    )
    assert restored.status == "enforced"
    [en] = [o for o in restored.operations if o.wiki == "enwiki"]
    assert en.detail.startswith("restored (")
    reversed_ = fold(
        restored,
        like(
            "ActionReversed",
            case_id="OA-1",
            operations=[op("enwiki"), op("dewiki", OperationStatus.FAILED, detail="unblock: x")],
            reversed_at=T0 + timedelta(hours=2),
        ),
    )
    assert reversed_.status == "reversed"
    assert reversed_.wikis == {"dewiki": "failed", "enwiki": "reversed"}
    expired = folded(
        [like("ActionExpired", case_id="OA-2", operations=[op("enwiki")], expired_at=T0)]
    )
    assert expired.status == "expired" and expired.wikis == {"enwiki": "expired"}


def test_an_older_decisions_enforcement_does_not_replace_the_newer_one() -> None:
    second = DECISION.model_copy(update={"revision": 2})
    newer = fold(Outcome(), enforced("OA-1", T0).model_copy(update={"decision": second}))
    assert fold(newer, enforced("OA-1", T0 - timedelta(days=1))) == newer


def test_whom_notify_tells_nobody_by_rule() -> None:
    quiet = DECISION.model_copy(
        update={
            "subject": AffectedUser(account="Anon"),
            "disclosure": DECISION.disclosure.model_copy(update={"public_statement": False}),
        }
    )
    silent = silent_audiences(quiet, POLICY.notify)
    assert silent == {"affected-user": "no-address", "public": "withheld"}
    assert silent_audiences(DECISION, POLICY.notify) == {}
    confidential = DECISION.model_copy(update={"action_type": "conduct-warning"})
    assert silent_audiences(confidential, POLICY.notify) == {"public": "withheld"}
    assert silent_audiences(quiet, NotifyRules()) == silent
    # Shown only once the action is enforced.
    failed = like("EnforcementFailed", case_id="OA-1", permanent=False)
    assert fold(Outcome(), failed, silent).told == {}
    assert fold(Outcome(), enforced("OA-1", T0), silent).told == silent


# --- review over HTTP ---------------------------------------------------------------------------


async def case_json(review: Review, case_id: str) -> dict[str, Any]:
    headers = {"Authorization": "Bearer demo-otto-token"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{review.url}/api/v1/cases/{case_id}", headers=headers) as reply:
            assert reply.status == 200
            body: dict[str, Any] = await reply.json()
            return body


async def deliver(review: Review, *events: EventData) -> None:
    assert review.wiring.handle is not None
    for data in events:
        await review.wiring.handle(to_cloudevent(data))


async def test_the_api_shows_the_outcome_once_however_often_it_is_delivered(
    review: Review,
) -> None:
    await receive(review, submission("R-OUTCOMEAPI01"))
    case_id = "OA-OUTCOMEAPI01"
    before = await case_json(review, case_id)
    assert before["outcome"]["status"] == "pending"
    events = story(case_id)
    await deliver(review, *events)
    await deliver(review, *reversed(events))  # redelivered, in another order
    body = await case_json(review, case_id)
    outcome = body["outcome"]
    assert outcome["status"] == "enforced"
    assert outcome["wikis"] == {"dewiki": "done", "enwiki": "done"}
    assert outcome["told"] == {"affected-user": "sent", "public": "sent"}
    assert body["state"] == before["state"], "the outcome leaves the review state alone"
    new = [e["action"] for e in body["timeline"][len(before["timeline"]) :]]
    assert sorted(new) == ["enforced", "told", "told"]
    # A case review does not hold (a submission's acknowledgement) is passed over.
    await deliver(review, like("NotificationSent", case_id="R-OUTCOMEAPI01"))


async def test_the_case_page_shows_where_the_case_is_in_english_and_russian(
    review: Review, browser: Browser
) -> None:
    await receive(review, submission("R-OUTCOMEPAGE1"))
    case_id = "OA-OUTCOMEPAGE1"
    await deliver(
        review,
        enforced(case_id, T0, op("enwiki"), op("dewiki", OperationStatus.FAILED, detail="nope")),
        like("NotificationSent", case_id=case_id, audience=Audience.AFFECTED_USER, sent_at=T0),
        like(
            "NotificationFailed",
            case_id=case_id,
            audience=Audience.PUBLIC,
            channel="wiki-page",
            permanent=True,
            failed_at=T0,
        ),
    )
    context, page = await sign_in(browser, review, "bob")
    try:
        await page.goto(f"{review.url}/console/cases/{case_id}?lang=en")
        section = page.locator("#outcome")
        assert await page.inner_text("#outcome-status") == "partly enforced"
        assert await section.locator('tr[data-wiki="dewiki"]').get_attribute("data-status") == (
            "failed"
        )
        assert "nope" in await section.locator('tr[data-wiki="dewiki"]').inner_text()
        told = section.locator('li[data-audience="affected-user"]')
        assert await told.get_attribute("data-told") == "sent"
        assert "sent" in await told.inner_text()
        public = section.locator('li[data-audience="public"]')
        assert await public.get_attribute("data-told") == "failed"
        await page.goto(f"{review.url}/console/cases/{case_id}?lang=ru")
        assert await page.inner_text("#outcome h2") == "Исполнение и уведомления"
        assert await page.inner_text("#outcome-status") == "исполнено частично"
    finally:
        await context.close()

"""The requester's tracking page hears where their case stands (issue 18 §2): review sends
CaseProgressed, public level, once per change of stage or appeal window, and only for
cases opened from a submission. Over review's use cases and a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from casework.contract import ActionEnforced, ActionReversed, CaseProgressed
from casework.store import DocumentStore
from services.review.domain.casefile import WaitingForm
from services.review.domain.opening import StaffCaseForm, case_id_for
from services.review.usecases import ReviewCases
from tests.test_review_usecases import (  # noqa: F401 (fixtures)
    Clock,
    approve,
    published,
    setup,
    staff,
    store,
    submission,
)


async def progress(store: DocumentStore, case_id: str) -> list[CaseProgressed]:
    return [
        e for e in await published(store) if isinstance(e, CaseProgressed) and e.case_id == case_id
    ]


async def test_each_stage_is_told_once_with_nothing_private(
    setup: tuple[ReviewCases, Clock], store: DocumentStore
) -> None:
    cases, _ = setup
    await cases.submission_received(submission(21))
    case_id = case_id_for("R-TEST00000021")
    await cases.set_waiting(staff("alice"), case_id, WaitingForm(waiting=True, reason="Asked."))
    await cases.set_waiting(staff("alice"), case_id, WaitingForm(waiting=True, reason="Again."))
    await cases.set_waiting(staff("alice"), case_id, WaitingForm(waiting=False, reason="Got it."))
    await approve(cases, case_id, 21)
    approved = await cases.read(staff("alice"), case_id)
    assert approved.decision is not None
    now = datetime.now(UTC)
    enforced = ActionEnforced(
        case_id=case_id, decision=approved.decision, operations=[], enforced_at=now
    )
    await cases.outcome_reported(enforced)
    await cases.outcome_reported(enforced)  # redelivered: no second "enforced"
    told = await progress(store, case_id)
    assert [e.stage for e in told] == [
        "under-review",
        "waiting-for-you",
        "under-review",
        "approved",
        "enforced",
    ]
    assert all(e.submission_id == "R-TEST00000021" for e in told)
    assert told[-1].appeal_until == approved.decision.appeal_until
    for event in told:  # a stage and dates only
        assert set(event.model_dump()) == {
            "case_id",
            "submission_id",
            "stage",
            "appeal_until",
            "at",
        }


async def test_a_reversal_ends_the_appeal_window(
    setup: tuple[ReviewCases, Clock], store: DocumentStore
) -> None:
    cases, _ = setup
    await cases.submission_received(submission(22))
    case_id = case_id_for("R-TEST00000022")
    await approve(cases, case_id, 22)
    approved = await cases.read(staff("alice"), case_id)
    assert approved.decision is not None
    reversed_at = datetime.now(UTC) + timedelta(minutes=1)
    await cases.outcome_reported(
        ActionReversed(
            case_id=case_id, decision=approved.decision, operations=[], reversed_at=reversed_at
        )
    )
    told = await progress(store, case_id)
    assert [(e.stage, e.appeal_until) for e in told[-2:]] == [
        ("approved", approved.decision.appeal_until),
        ("reversed", None),
    ]


async def test_a_case_staff_opened_has_no_requester_to_tell(
    setup: tuple[ReviewCases, Clock], store: DocumentStore
) -> None:
    cases, _ = setup
    case = await cases.open_by_staff(
        staff("alice"), StaffCaseForm(action_type="global-ban", summary="Seen on patrol.")
    )
    await cases.set_waiting(staff("alice"), case.id, WaitingForm(waiting=True, reason="x"))
    assert await progress(store, case.id) == []

"""Where a requester's case stands, as their tracking page shows it. Pure.

A stage says what is happening without why: the requester learns the reasons from the
messages meant for them (notify), never from the stage. Only cases opened from a
submission have a requester to tell.
"""

from __future__ import annotations

from datetime import datetime

from casework.contract import CaseProgressed, ProgressStage
from services.review.domain.case import Case, CaseState

APPROVED_STATES = {CaseState.APPROVED, CaseState.ENFORCING_AWAITING_SIGNOFF}
PLAIN_STATES: dict[CaseState, ProgressStage] = {
    CaseState.DECLINED: "declined",
    CaseState.ANSWERED: "answered",
    CaseState.MERGED: "merged",
    CaseState.CLOSED: "closed",
    CaseState.REVERSED: "reversed",
}


def stage_of(case: Case) -> ProgressStage:
    outcome = case.outcome
    if case.state is CaseState.REVERSED or outcome.reversed_at is not None:
        return "reversed"
    if outcome.expired_at is not None:
        return "expired"
    if outcome.enforced_at is not None:
        return "enforced"
    if case.state in APPROVED_STATES:
        return "approved"
    if case.state in PLAIN_STATES:
        return PLAIN_STATES[case.state]
    return "waiting-for-you" if case.waiting_for_requester else "under-review"


def appeal_until(case: Case) -> datetime | None:
    decision = case.decision
    if decision is None or not decision.appealable:
        return None
    return decision.appeal_until if stage_of(case) in ("approved", "enforced") else None


def progressed(before: Case | None, after: Case, now: datetime) -> list[CaseProgressed]:
    """The event telling the requester's page, if the stage or the appeal window moved."""
    if after.submission_id is None:
        return []
    stage, until = stage_of(after), appeal_until(after)
    if before is not None and (stage_of(before), appeal_until(before)) == (stage, until):
        return []
    return [
        CaseProgressed(
            case_id=after.id,
            submission_id=after.submission_id,
            stage=stage,
            appeal_until=until,
            at=now,
        )
    ]

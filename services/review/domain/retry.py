"""Retrying an operation that failed for good. Pure.

Enforcement does not retry a permanent failure by itself (a missing right, a page that
cannot be protected): someone mends the cause outside the system and then orders the
retry here, with what was mended. The order goes out signed (RetryOrdered); the case's
outcome shows the operation as retrying until enforcement reports again.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from casework.contract import EventData, RetryOrdered
from casework.errors import Kind, Rejected
from services.review.domain.case import Case
from services.review.domain.outcome import ToldStatus, settle
from services.review.domain.staff import StaffMember


class RetryForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wiki: str = Field(min_length=1, max_length=100)
    kind: str = Field(min_length=1, max_length=50)
    target: str = Field(min_length=1, max_length=300)
    reason: str = Field(min_length=1, max_length=2000, description="What was mended.")


def order_retry(
    case: Case,
    form: RetryForm,
    staff: StaffMember,
    now: datetime,
    silent: dict[str, ToldStatus],
) -> tuple[Case, list[EventData]]:
    """``silent``: the audiences notify tells nothing by rule (outcome.silent_audiences)."""
    ops = case.outcome.operations
    found = next(
        (o for o in ops if (o.wiki, o.kind, o.target) == (form.wiki, form.kind, form.target)),
        None,
    )
    if found is None:
        raise Rejected.one(
            Kind.INVALID,
            "validation_failed",
            "target",
            "known_operation",
            f"no {form.kind} operation on {form.target} at {form.wiki} in {case.id}",
        )
    if found.status != "failed":
        raise Rejected.one(
            Kind.CONFLICT,
            "not_failed",
            "target",
            "failed_for_good",
            f"the operation is {found.status}: only one that failed for good is retried",
        )
    retrying = found.model_copy(
        update={"status": "retrying", "detail": f"retry ordered by {staff.id}", "at": now}
    )
    outcome = settle(
        case.outcome.model_copy(
            update={"operations": [retrying if o is found else o for o in ops]}
        ),
        silent,
    )
    updated = case.model_copy(update={"outcome": outcome}).with_entry(
        now, staff.id, "retry-ordered", f"{form.wiki}: {form.kind} {form.target} ({form.reason})"
    )
    return updated, [
        RetryOrdered(
            case_id=case.id,
            wiki=form.wiki,
            kind=form.kind,
            target=form.target,
            ordered_by=staff.id,
            ordered_at=now,
            reason=form.reason,
        )
    ]

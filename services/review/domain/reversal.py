"""Reversal of an approved decision, with the separation of duties of a sign-off. Pure.

Every approver passes the sign-off rules against the person (not the requester, not the
subject, not named in the report, not barred). On an upheld appeal nobody who signed
the original takes part; on an error a signer of the original may, but at least one
approver must not have signed it. A decision whose chain has several levels is undone
only once as many distinct entitled people approved as the policy's
`review.reversal_approvals` needs: until then the reversal is pending on the case. The
first approver's grounds, appeal case and reason stand; each later approver names the
same grounds and appeal case, and their own reason is kept with their approval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from casework.contract import DecisionReversed, EventData, SignOff, SubmissionKind
from casework.errors import Kind, Rejected
from casework.policy import Policy
from casework.text import NO_CONTROL
from services.review.domain.case import Case, CaseState, LinkKind, PendingReversal, ReversalGrounds
from services.review.domain.signoff import check_may_sign, duty_refusal
from services.review.domain.staff import StaffMember

REVERSIBLE_STATES = {CaseState.APPROVED, CaseState.ENFORCING_AWAITING_SIGNOFF}


class ReversalForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grounds: ReversalGrounds
    reason: Annotated[str, Field(min_length=1, max_length=5000), NO_CONTROL] = Field(
        description="Public-level reason, published with the reversal. A later approver's "
        "reason is kept with their approval; the first approver's is the one published."
    )
    appeal_case_id: str | None = None


def reverse_decision(
    case: Case,
    form: ReversalForm,
    staff: StaffMember,
    policy: Policy,
    now: datetime,
    appeal: Case | None = None,
) -> tuple[Case, list[EventData]]:
    """Approve the reversal of an approved decision: pending until enough people approved,
    then the decision is reversed and DecisionReversed tells enforcement and notify."""
    held = _check_may_approve(case, form, staff, policy, appeal)
    assert case.decision is not None
    pending = case.pending_reversal
    signers = original_signers(case)
    approvals, levels_held = _approvals_with(case, form, staff, held, now)
    needed = policy.review.reversal_approvals_needed(len(case.chain))
    complete = len(approvals) >= needed
    if complete and all(a.staff_id.casefold() in signers for a in approvals):
        raise duty_refusal(
            "not_only_original_signers",
            "a signer of the original may take part in its reversal, but at least one "
            "approver must not have signed it",
        )
    reason = pending.reason if pending else form.reason
    if not complete:
        waiting = PendingReversal(
            grounds=form.grounds,
            reason=reason,
            appeal_case_id=form.appeal_case_id,
            requested_by=pending.requested_by if pending else staff.id,
            requested_at=pending.requested_at if pending else now,
            approvals=approvals,
            levels_held=levels_held,
            needed=needed,
        )
        return _waiting_for_more(case, form, staff, now, waiting, first=pending is None), []
    reversed_case = case.model_copy(
        update={"state": CaseState.REVERSED, "pending_reversal": None}
    ).with_entry(now, staff.id, "decision-reversed", f"{form.grounds}: {reason}")
    return reversed_case, [
        DecisionReversed(
            case_id=case.id,
            decision=case.decision,
            reason=reason,
            reversed_by=staff.id,
            appeal_case_id=appeal.id if appeal else None,
            reversed_at=now,
            approvals=approvals,
            grounds=form.grounds,
        )
    ]


def _check_may_approve(
    case: Case,
    form: ReversalForm,
    staff: StaffMember,
    policy: Policy,
    appeal: Case | None,
) -> list[str]:
    """Refuse an approval the rules do not allow; return the reversal levels held."""
    _check_reversible(case)
    assert case.decision is not None
    held = _reversal_levels_held(staff, policy)
    _check_grounds(case, form, appeal)
    pending = case.pending_reversal
    if pending is not None:
        _check_same_reversal(pending, form, staff)
    check_may_sign(case, staff)
    if form.grounds == "appeal-upheld":
        assert appeal is not None
        if staff.id.casefold() in original_signers(case):
            raise duty_refusal(
                "not_original_signer", "an appeal is decided by someone who did not sign"
            )
        check_may_sign(appeal, staff)
    return held


def _approvals_with(
    case: Case, form: ReversalForm, staff: StaffMember, held: list[str], now: datetime
) -> tuple[list[SignOff], dict[str, list[str]]]:
    """The approvals so far with this one added, spread over distinct levels, and the
    levels each approver holds."""
    pending = case.pending_reversal
    approval = SignOff(
        level=held[0],
        staff_id=staff.id,
        verdict="approve",
        comment=form.reason,
        languages=staff.languages,
        signed_at=now,
    )
    levels_held = {**(pending.levels_held if pending else {}), staff.id: held}
    approvals = _at_distinct_levels(
        [*pending.approvals, approval] if pending else [approval], levels_held
    )
    return approvals, levels_held


def _waiting_for_more(
    case: Case,
    form: ReversalForm,
    staff: StaffMember,
    now: datetime,
    waiting: PendingReversal,
    *,
    first: bool,
) -> Case:
    """The reversal recorded as pending: the policy needs more approvals."""
    action = "reversal-requested" if first else "reversal-approved"
    detail = (
        f"{form.grounds}: {form.reason} ({len(waiting.approvals)} of {waiting.needed} approvals)"
    )
    return case.model_copy(update={"pending_reversal": waiting}).with_entry(
        now, staff.id, action, detail
    )


def withdraw_reversal(case: Case, staff: StaffMember, policy: Policy, now: datetime) -> Case:
    """Drop a pending reversal: the decision stands. Open to anyone who could approve it."""
    pending = case.pending_reversal
    if pending is None:
        raise Rejected.one(
            Kind.CONFLICT,
            "no_pending_reversal",
            "reversal",
            "pending",
            f"no reversal of {case.id} is waiting for approvals",
        )
    _reversal_levels_held(staff, policy)
    check_may_sign(case, staff)
    if pending.grounds == "appeal-upheld" and staff.id.casefold() in original_signers(case):
        raise duty_refusal(
            "not_original_signer", "an appeal is decided by someone who did not sign"
        )
    withdrawn = case.model_copy(update={"pending_reversal": None})
    approvers = ", ".join(a.staff_id for a in pending.approvals)
    return withdrawn.with_entry(
        now, staff.id, "reversal-withdrawn", f"{pending.grounds}, approved by {approvers}"
    )


def close_appeal(appeal: Case, original_id: str, actor: str, now: datetime) -> Case:
    """The appeal case once its original was reversed. Idempotent."""
    if appeal.state is CaseState.CLOSED:
        return appeal
    closed = appeal.model_copy(update={"state": CaseState.CLOSED})
    return closed.with_entry(now, actor, "appeal-upheld", f"{original_id} reversed")


def original_signers(case: Case) -> set[str]:
    """Everyone who signed the decision, in any revision or sent-back round (casefolded)."""
    return {s.staff_id.casefold() for s in [*case.signoffs, *case.past_signoffs]}


def may_approve_reversal(case: Case, staff: StaffMember, policy: Policy) -> bool:
    """Whether the console offers this person the reversal form (the server still decides)."""
    if case.state not in REVERSIBLE_STATES:
        return False
    if not set(staff.levels) & set(policy.review.reversal_levels):
        return False
    pending = case.pending_reversal
    return pending is None or all(
        a.staff_id.casefold() != staff.id.casefold() for a in pending.approvals
    )


def _check_reversible(case: Case) -> None:
    if case.state not in REVERSIBLE_STATES or case.decision is None:
        raise Rejected.one(
            Kind.CONFLICT,
            "not_approved",
            "state",
            "approved",
            f"the case is {case.state}; only an approved decision can be reversed",
        )


def _reversal_levels_held(staff: StaffMember, policy: Policy) -> list[str]:
    """The reversal levels this person holds, in the policy's order; none: refused."""
    held = [lvl for lvl in policy.review.reversal_levels if lvl in staff.levels]
    if not held:
        raise Rejected.one(
            Kind.FORBIDDEN,
            "not_entitled",
            "staff",
            "reversal_level",
            f"reversal needs one of the levels {', '.join(policy.review.reversal_levels)}",
        )
    return held


def _at_distinct_levels(
    approvals: list[SignOff], levels_held: dict[str, list[str]]
) -> list[SignOff]:
    """Each approval at a reversal level its approver holds, every approver at a different
    level when the levels they hold allow it (else each at the first they hold)."""

    def place(i: int, used: frozenset[str]) -> list[str] | None:
        if i == len(approvals):
            return []
        for level in levels_held.get(approvals[i].staff_id, [approvals[i].level]):
            if level not in used:
                rest = place(i + 1, used | {level})
                if rest is not None:
                    return [level, *rest]
        return None

    levels = place(0, frozenset()) or [levels_held.get(a.staff_id, [a.level])[0] for a in approvals]
    return [a.model_copy(update={"level": lvl}) for a, lvl in zip(approvals, levels, strict=True)]


def _check_grounds(case: Case, form: ReversalForm, appeal: Case | None) -> None:
    if form.grounds != "appeal-upheld":
        return
    if appeal is None:
        raise Rejected.one(
            Kind.INVALID,
            "validation_failed",
            "appeal_case_id",
            "appeal_of_case",
            "name the appeal case when an appeal is upheld",
        )
    if appeal.kind is not SubmissionKind.APPEAL or appeal.linked(LinkKind.APPEAL_OF) != case.id:
        raise Rejected.one(
            Kind.INVALID,
            "validation_failed",
            "appeal_case_id",
            "appeal_of_case",
            f"{appeal.id} is not an appeal of {case.id}",
        )


def _check_same_reversal(pending: PendingReversal, form: ReversalForm, staff: StaffMember) -> None:
    if any(a.staff_id.casefold() == staff.id.casefold() for a in pending.approvals):
        raise Rejected.one(
            Kind.CONFLICT,
            "already_approved",
            "staff",
            "one_approval_per_person",
            f"{staff.id} already approved this reversal; another person must confirm it",
        )
    if form.grounds != pending.grounds or form.appeal_case_id != pending.appeal_case_id:
        field = "grounds" if form.grounds != pending.grounds else "appeal_case_id"
        raise Rejected.one(
            Kind.CONFLICT,
            "reversal_pending",
            field,
            "same_as_pending",
            f"a reversal on {pending.grounds}"
            + (f" (appeal {pending.appeal_case_id})" if pending.appeal_case_id else "")
            + " is pending: confirm it or withdraw it first",
        )

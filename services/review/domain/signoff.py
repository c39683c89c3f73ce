"""The sign-off chain, separation of duties, the language gate and expedited approval.
Enforced here, on the server, whatever the client. Pure. (Reversal: reversal.py.)"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from casework.contract import (
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    EventData,
    SignOff,
    canonical_account,
)
from casework.contract.decision import SignerAuthentication
from casework.errors import Kind, Rejected
from casework.policy import Policy
from casework.policy.review import StepUp
from casework.text import NO_CONTROL
from casework.trust import fluent
from services.review.domain.case import Case, CaseState
from services.review.domain.staff import StaffMember
from services.review.domain.stepup import check_step_up

SIGNING_STATES = {CaseState.AWAITING_SIGNOFF, CaseState.ENFORCING_AWAITING_SIGNOFF}


class SignOffForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: str
    verdict: Literal["approve", "decline", "send-back"]
    comment: Annotated[str, Field(min_length=1, max_length=10_000), NO_CONTROL]


def duty_refusal(rule: str, message: str) -> Rejected:
    """A separation-of-duty refusal (403) naming the rule the person broke."""
    return Rejected.one(Kind.FORBIDDEN, "separation_of_duties", "level", rule, message)


def check_may_sign(case: Case, staff: StaffMember) -> None:
    """Who may never sign this case: the separation-of-duty rules of the policy."""
    requester = case.submission.requester if case.submission else None
    if requester is not None and staff.email.casefold() == requester.email.casefold():
        raise duty_refusal("not_requester", "the requester cannot sign off their own request")
    involved = set()
    if case.decision is not None:
        involved.add(canonical_account(case.decision.subject.account).casefold())
    if case.subject_account:
        involved.add(canonical_account(case.subject_account).casefold())
    if involved & {canonical_account(a).casefold() for a in staff.wiki_accounts}:
        raise duty_refusal("not_subject", "the subject of the case cannot sign off")
    bar = case.is_barred(staff)
    if bar is not None and bar.reason == "named-in-report":
        raise duty_refusal("not_named_in_report", "staff named in the report cannot sign off")
    if bar is not None:
        raise duty_refusal(
            "not_original_signer", "an appeal is decided by someone who did not sign"
        )


def sign_off(
    case: Case,
    form: SignOffForm,
    staff: StaffMember,
    policy: Policy,
    now: datetime,
    authentication: SignerAuthentication | None = None,
    step_up: Mapping[str, StepUp] | None = None,
) -> tuple[Case, list[EventData]]:
    """Sign ``form.level``; ``step_up`` (the policy's rules, where review enforces them)
    refuses a level whose rule ``authentication`` does not meet."""
    _check_may_sign_off(case, form, staff, policy)
    check_step_up((step_up or {}).get(form.level), authentication, now)
    assert case.decision is not None
    if form.verdict == "approve":
        _check_evidence_cited(case, policy)
    signoff = SignOff(
        level=form.level,
        staff_id=staff.id,
        verdict=form.verdict,
        comment=form.comment,
        languages=staff.languages,
        signed_at=now,
        authentication=authentication,
    )
    signed = case.model_copy(update={"signoffs": [*case.signoffs, signoff]}).with_entry(
        now, staff.id, f"signoff-{form.verdict}", f"{form.level}: {form.comment}"
    )
    if form.verdict == "decline":
        return _decline(signed, form, staff, now)
    if form.verdict == "send-back":
        return _send_back(case, signed), []
    outstanding = signed.outstanding_levels()
    if case.published:
        if outstanding:
            return signed, []
        done = signed.model_copy(update={"state": CaseState.APPROVED})
        return done.with_entry(now, "system", "signoff-completed", "every level signed"), []
    rule = policy.review.expedited.get(case.decision.action_type)
    approved_levels = {s.level for s in signed.signoffs if s.verdict == "approve"}
    expedite = bool(outstanding) and rule is not None and set(rule.proceed_after) <= approved_levels
    if outstanding and not expedite:
        return signed, []
    _language_gate(signed, policy)
    return _approve(signed, policy, now, outstanding)


def _check_evidence_cited(case: Case, policy: Policy) -> None:
    """The policy may require, per action type, that a decision rests on cited evidence."""
    assert case.decision is not None
    action = policy.action_types.get(case.decision.action_type)
    if action is not None and action.evidence_required and not case.decision.evidence:
        raise Rejected.one(
            Kind.CONFLICT,
            "no_evidence_cited",
            "evidence",
            "cited",
            f"the policy requires a {action.title.lower()} to cite evidence: draft the"
            " decision again with the items it rests on",
        )


def _check_may_sign_off(case: Case, form: SignOffForm, staff: StaffMember, policy: Policy) -> None:
    """Refuse a sign-off out of turn, at a level not held, or against separation of duty."""
    if case.state not in SIGNING_STATES or case.decision is None:
        raise Rejected.one(
            Kind.CONFLICT,
            "not_awaiting_signoff",
            "state",
            "awaiting-signoff",
            f"the case is {case.state}; a decision must be drafted first",
        )
    expected = case.next_level(policy)
    if form.level != expected:
        raise Rejected.one(
            Kind.CONFLICT,
            "wrong_level",
            "level",
            "next_in_chain",
            f"the next level to sign is {expected!r}, not {form.level!r}",
        )
    if form.level not in staff.levels:
        raise Rejected.one(
            Kind.FORBIDDEN,
            "not_entitled",
            "level",
            "staff_holds_level",
            f"{staff.id} may not sign as {form.level}",
        )
    if any(s.staff_id == staff.id for s in case.signoffs):
        raise duty_refusal(
            "one_level_per_person", f"{staff.id} has already signed at another level"
        )
    check_may_sign(case, staff)


def _send_back(case: Case, signed: Case) -> Case:
    """Changes requested: this round's sign-offs are kept as past, the chain starts over."""
    if case.state is CaseState.ENFORCING_AWAITING_SIGNOFF:
        raise Rejected.one(
            Kind.CONFLICT,
            "already_enforced",
            "verdict",
            "approve_or_decline",
            "the decision is being enforced: approve it or decline it (which reverses it)",
        )
    sent_back = signed.model_copy(
        update={
            "past_signoffs": [*case.past_signoffs, *signed.signoffs],
            "signoffs": [],
            "state": CaseState.CHANGES_REQUESTED,
        }
    )
    return sent_back


def _language_gate(case: Case, policy: Policy) -> None:
    assert case.decision is not None
    if not policy.review.language_gate:
        return
    language = case.decision.language
    if not any(fluent(s.languages, language) for s in case.signoffs if s.verdict == "approve"):
        raise Rejected.one(
            Kind.CONFLICT,
            "language_gate",
            "languages",
            "fluent_signer",
            f"someone fluent in {language!r} must sign before the decision is approved",
        )


def _approve(
    case: Case, policy: Policy, now: datetime, outstanding: list[str]
) -> tuple[Case, list[EventData]]:
    assert case.decision is not None
    action = policy.action(case.decision.action_type)
    decision = case.decision
    if decision.appealable and decision.appeal_until is None and action.appeal_window_days:
        decision = decision.model_copy(
            update={"appeal_until": now + timedelta(days=action.appeal_window_days)}
        )
    expedited = bool(outstanding)
    state = CaseState.ENFORCING_AWAITING_SIGNOFF if expedited else CaseState.APPROVED
    approved = case.model_copy(update={"decision": decision, "state": state, "published": True})
    detail = f"expedited; still to sign: {', '.join(outstanding)}" if expedited else ""
    return approved.with_entry(now, "system", "decision-approved", detail), [
        DecisionApproved(
            case_id=case.id,
            decision=decision,
            signoffs=case.signoffs,
            approved_at=now,
            expedited=expedited,
            outstanding_levels=outstanding,
            requester=case.submission.requester if case.submission else None,
        )
    ]


def _decline(
    case: Case, form: SignOffForm, staff: StaffMember, now: datetime
) -> tuple[Case, list[EventData]]:
    assert case.decision is not None
    if case.published:
        # Expedited: enforcement already acted, so a later decline undoes it. The chain
        # itself declined: the one declining sign-off is the reversal's approval.
        reversed_case = case.model_copy(
            update={"state": CaseState.REVERSED, "pending_reversal": None}
        )
        return reversed_case.with_entry(
            now, "system", "decision-reversed", "declined after expedited enforcement"
        ), [
            DecisionReversed(
                case_id=case.id,
                decision=case.decision,
                reason="The decision was declined at a later level of review.",
                reversed_by=staff.id,
                reversed_at=now,
                approvals=[case.signoffs[-1]],
                grounds="declined-after-expedited",
            )
        ]
    declined = case.model_copy(update={"state": CaseState.DECLINED})
    return declined, [
        DecisionDeclined(
            case_id=case.id,
            level=form.level,
            staff_id=staff.id,
            comment=form.comment,
            declined_at=now,
            requester=case.submission.requester if case.submission else None,
        )
    ]

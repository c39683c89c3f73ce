"""The case file and its multi-level sign-off. Pure: no I/O, time passed in."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from casework.contract import (
    AffectedUser,
    AwareDatetime,
    CaseOpened,
    ClauseGround,
    Decision,
    DecisionApproved,
    DecisionDeclined,
    EventData,
    SignOff,
    SubmissionReceived,
    WikiId,
    canonical_account,
)
from casework.errors import FieldError, Kind, Rejected
from casework.policy import Policy
from services.review.staff import StaffMember


class CaseState(StrEnum):
    OPEN = "open"
    AWAITING_SIGNOFF = "awaiting-signoff"
    CHANGES_REQUESTED = "changes-requested"
    APPROVED = "approved"
    DECLINED = "declined"


FINAL_STATES = {CaseState.APPROVED, CaseState.DECLINED}


class TimelineEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    actor: str
    action: str
    detail: str = ""


class Case(BaseModel):
    """The stored case file (staff level). Timeline entries are only ever appended."""

    id: str
    submission_id: str
    state: CaseState
    action_type: str
    routed_to: str
    opened_at: AwareDatetime
    deadline_at: AwareDatetime | None
    submission: SubmissionReceived
    decision: Decision | None = None
    decision_revision: int = 0
    signoffs: list[SignOff] = []
    timeline: list[TimelineEntry] = []

    def to_document(self) -> dict[str, Any]:
        doc = self.model_dump(mode="json")
        doc["_id"] = self.id
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Case:
        return cls.model_validate({k: v for k, v in doc.items() if not k.startswith("_")})

    def next_level(self, policy: Policy) -> str | None:
        chain = policy.action(self.action_type).signoff
        approved = [s for s in self.signoffs if s.verdict == "approve"]
        return chain[len(approved)] if len(approved) < len(chain) else None


def case_id_for(submission_id: str) -> str:
    """One case per submission, derived so a redelivered submission finds its case."""
    return "OA-" + submission_id.removeprefix("R-")


def open_case(
    submission: SubmissionReceived, policy: Policy, now: datetime
) -> tuple[Case, CaseOpened]:
    action = policy.action(submission.action_type) if submission.action_type else None
    deadline = action.deadline.due(submission.received_at) if action and action.deadline else None
    case = Case(
        id=case_id_for(submission.submission_id),
        submission_id=submission.submission_id,
        state=CaseState.OPEN,
        action_type=submission.action_type or "",
        routed_to=submission.routed_to,
        opened_at=now,
        deadline_at=deadline,
        submission=submission,
        timeline=[
            TimelineEntry(
                at=now,
                actor="system",
                action="case-opened",
                detail=f"from submission {submission.submission_id} ({submission.channel})",
            )
        ],
    )
    event = CaseOpened(
        case_id=case.id,
        submission_id=submission.submission_id,
        action_type=case.action_type,
        routed_to=case.routed_to,
        opened_at=now,
        deadline_at=deadline,
    )
    return case, event


class AffectedUserInput(AffectedUser):
    """As staff type it: a misspelt field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DecisionForm(BaseModel):
    """A staff member's draft of the decision for a case."""

    model_config = ConfigDict(extra="forbid")

    subject: AffectedUserInput
    wikis: list[WikiId] = []
    expires_at: AwareDatetime | None = None
    grounds: Annotated[list[str], Field(min_length=1, max_length=20)]
    public_rationale: Annotated[str, Field(min_length=1, max_length=5000)]
    appealable: bool | None = None


class SignOffForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: str
    verdict: Literal["approve", "decline", "send-back"]
    comment: Annotated[str, Field(min_length=1, max_length=10_000)]


def draft_decision(
    case: Case, form: DecisionForm, staff: StaffMember, policy: Policy, now: datetime
) -> Case:
    """Record (or change) the decision; any change restarts the sign-off chain."""
    if case.state in FINAL_STATES:
        raise Rejected.one(
            Kind.CONFLICT, "case_closed", "state", "not_final", f"the case is {case.state}"
        )
    catalogue = policy.clauses
    unknown = [g for g in form.grounds if g not in catalogue.items]
    if unknown:
        raise Rejected(
            Kind.INVALID,
            "validation_failed",
            [
                FieldError(
                    f"grounds.{i}",
                    "known_clause",
                    f"unknown clause {g!r} in catalogue {catalogue.version}",
                )
                for i, g in enumerate(form.grounds)
                if g not in catalogue.items
            ],
        )
    if form.expires_at is not None and form.expires_at <= now:
        raise Rejected.one(
            Kind.INVALID, "validation_failed", "expires_at", "future", "must be in the future"
        )
    action = policy.action(case.action_type)
    appealable = action.appealable if form.appealable is None else form.appealable
    decision = Decision(
        action_type=case.action_type,
        subject=AffectedUser.model_validate(form.subject.model_dump()),
        wikis=form.wikis,
        expires_at=form.expires_at,
        grounds=[
            ClauseGround(
                id=g,
                catalogue_version=catalogue.version,
                source=catalogue.items[g].source,
                section=catalogue.items[g].section,
                text=catalogue.items[g].text,
            )
            for g in form.grounds
        ],
        public_rationale=form.public_rationale,
        appealable=appealable,
    )
    restarted = bool(case.signoffs)
    entry = TimelineEntry(
        at=now,
        actor=staff.id,
        action="decision-drafted",
        detail=f"revision {case.decision_revision + 1}"
        + ("; sign-off chain restarted" if restarted else ""),
    )
    return case.model_copy(
        update={
            "decision": decision,
            "decision_revision": case.decision_revision + 1,
            "signoffs": [],
            "state": CaseState.AWAITING_SIGNOFF,
            "timeline": [*case.timeline, entry],
        }
    )


def sign_off(
    case: Case, form: SignOffForm, staff: StaffMember, policy: Policy, now: datetime
) -> tuple[Case, list[EventData]]:
    """One level signs. Separation of duties is enforced here, not in the console."""
    if case.state != CaseState.AWAITING_SIGNOFF or case.decision is None:
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
        raise Rejected.one(
            Kind.FORBIDDEN,
            "separation_of_duties",
            "level",
            "one_level_per_person",
            f"{staff.id} has already signed this decision at another level",
        )
    requester = case.submission.requester
    if requester is not None and staff.email.lower() == requester.email.lower():
        raise Rejected.one(
            Kind.FORBIDDEN,
            "separation_of_duties",
            "level",
            "not_requester",
            "the requester cannot sign off their own request",
        )
    # Case-folded on top of MediaWiki's own rules: refusing a look-alike name is the safe error.
    involved = {canonical_account(case.decision.subject.account).casefold()}
    if case.submission.subject is not None:
        involved.add(canonical_account(case.submission.subject.account).casefold())
    if involved & {canonical_account(a).casefold() for a in staff.wiki_accounts}:
        raise Rejected.one(
            Kind.FORBIDDEN,
            "separation_of_duties",
            "level",
            "not_subject",
            "the subject of the case cannot sign off",
        )
    signoff = SignOff(
        level=form.level,
        staff_id=staff.id,
        verdict=form.verdict,
        comment=form.comment,
        languages=staff.languages,
        signed_at=now,
    )
    timeline = [
        *case.timeline,
        TimelineEntry(
            at=now,
            actor=staff.id,
            action=f"signoff-{form.verdict}",
            detail=f"{form.level}: {form.comment}",
        ),
    ]
    if form.verdict == "decline":
        declined = case.model_copy(
            update={
                "signoffs": [*case.signoffs, signoff],
                "state": CaseState.DECLINED,
                "timeline": timeline,
            }
        )
        return declined, [
            DecisionDeclined(
                case_id=case.id,
                level=form.level,
                staff_id=staff.id,
                comment=form.comment,
                declined_at=now,
            )
        ]
    if form.verdict == "send-back":
        sent_back = case.model_copy(
            update={"signoffs": [], "state": CaseState.CHANGES_REQUESTED, "timeline": timeline}
        )
        return sent_back, []
    signed = case.model_copy(update={"signoffs": [*case.signoffs, signoff], "timeline": timeline})
    if signed.next_level(policy) is not None:
        return signed, []
    return _approve(signed, policy, now)


def _approve(case: Case, policy: Policy, now: datetime) -> tuple[Case, list[EventData]]:
    assert case.decision is not None
    action = policy.action(case.action_type)
    decision = case.decision
    if decision.appealable and action.appeal_window_days:
        decision = decision.model_copy(
            update={"appeal_until": now + timedelta(days=action.appeal_window_days)}
        )
    approved = case.model_copy(
        update={
            "decision": decision,
            "state": CaseState.APPROVED,
            "timeline": [
                *case.timeline,
                TimelineEntry(at=now, actor="system", action="decision-approved"),
            ],
        }
    )
    return approved, [
        DecisionApproved(
            case_id=case.id, decision=decision, signoffs=case.signoffs, approved_at=now
        )
    ]

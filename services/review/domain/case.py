"""The case file: what is known, who touched it, and when. Pure: no I/O, time passed in."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from casework.contract import (
    Audience,
    AwareDatetime,
    Decision,
    EvidenceLocation,
    Language,
    SignOff,
    SubmissionKind,
    SubmissionReceived,
    Url,
    canonical_account,
)
from casework.errors import Kind, Rejected
from casework.policy import Policy
from services.review.domain.outcome import Outcome
from services.review.domain.staff import StaffMember


class CaseState(StrEnum):
    OPEN = "open"
    AWAITING_SIGNOFF = "awaiting-signoff"
    CHANGES_REQUESTED = "changes-requested"
    # Expedited: enforcement proceeds while the remaining levels still sign.
    ENFORCING_AWAITING_SIGNOFF = "enforcing-awaiting-signoff"
    APPROVED = "approved"
    DECLINED = "declined"
    REVERSED = "reversed"
    ANSWERED = "answered"
    MERGED = "merged"
    CLOSED = "closed"


FINAL_STATES = {
    CaseState.APPROVED,
    CaseState.DECLINED,
    CaseState.REVERSED,
    CaseState.ANSWERED,
    CaseState.MERGED,
    CaseState.CLOSED,
}


def sort_key(moment: datetime | None) -> str:
    """A fixed-width UTC form that sorts as text in the order of time; no time sorts last.

    Prefixed so that no store takes it for a date (the nx-27017 server compares
    date-like strings only with each other).
    """
    if moment is None:
        return NO_DEADLINE
    return "due:" + moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


NO_DEADLINE = "due:~"  # after every digit


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class TimelineEntry(_Record):
    at: AwareDatetime
    actor: str
    action: str
    detail: str = ""


class Note(_Record):
    """Investigation notes: staff only, never leave review."""

    id: str
    author: str
    text: str
    at: AwareDatetime


class EvidenceRecord(_Record):
    id: str
    description: str
    url: Url | None = None
    where: EvidenceLocation
    audiences: list[Audience] = []
    added_by: str
    added_at: AwareDatetime


class LinkKind(StrEnum):
    APPEAL_OF = "appeal-of"
    BREACH_OF = "breach-of"
    ABUSE_REPORT_ABOUT = "abuse-report-about"
    INQUIRY_ABOUT = "inquiry-about"
    DUPLICATE_OF = "duplicate-of"
    MERGED_FROM = "merged-from"
    RELATED = "related"


class CaseLink(_Record):
    kind: LinkKind
    case_id: str


class Barred(_Record):
    """Someone who may not read, sign or be assigned this case, and why."""

    who: str = Field(description="A staff id or a wiki account.")
    reason: Literal["named-in-report", "signed-original"]


class Deadline(_Record):
    started_at: AwareDatetime
    due_at: AwareDatetime
    at_risk_at: AwareDatetime
    paused_at: AwareDatetime | None = None
    at_risk_flagged: bool = False
    breached_flagged: bool = False


class Tampering(_Record):
    tampering_id: str
    wiki: str
    target: str
    performer: str
    log_action: str
    logged_at: AwareDatetime
    restoration_ordered_by: str | None = None


class InquiryResponse(_Record):
    question: str
    outcome: Literal["answered", "refused"]
    text: str


ReversalGrounds = Literal["appeal-upheld", "error"]


class PendingReversal(_Record):
    """A reversal approved by fewer people than the policy needs: the decision stands
    until enough distinct entitled people approve (services/review/domain/reversal.py)."""

    grounds: ReversalGrounds
    reason: str = Field(description="The first approver's reason: the one published.")
    appeal_case_id: str | None = None
    requested_by: str
    requested_at: AwareDatetime
    # One per approving person, at the reversal level they hold; comment: their reason.
    approvals: list[SignOff]
    # The reversal levels each approver holds: approvals are spread over distinct levels.
    levels_held: dict[str, list[str]] = {}
    needed: int = Field(description="Distinct approvers the policy needs for this decision.")

    @property
    def missing(self) -> int:
        return max(self.needed - len(self.approvals), 0)


class Case(BaseModel):
    """The case file (staff level). Timeline entries are only ever appended.

    What the store keeps is adapters/stored.py's own model, mapped from this one.
    """

    id: str
    submission_id: str | None
    kind: SubmissionKind = SubmissionKind.REQUEST
    state: CaseState
    action_type: str | None
    routed_to: str
    opened_at: AwareDatetime
    opened_by: str = "system"
    summary: str = ""
    subject_account: str | None = None
    urgent: bool = False
    language: Language = "en"
    submission: SubmissionReceived | None = None
    assignee: str | None = None
    notes: list[Note] = []
    evidence: list[EvidenceRecord] = []
    links: list[CaseLink] = []
    barred: list[Barred] = []
    decision: Decision | None = None
    decision_revision: int = 0
    statement_of_facts: str = ""
    signoffs: list[SignOff] = []
    # Sign-offs of earlier revisions and sent-back rounds, comments verbatim.
    past_signoffs: list[SignOff] = []
    chain: list[str] = []
    published: bool = False
    pending_reversal: PendingReversal | None = None
    deadline: Deadline | None = None
    waiting_for_requester: bool = False
    questions: list[str] = []
    inquiry_answers: list[InquiryResponse] = []
    # Staff kept an inquiry's answers off the public portal (still e-mailed), and why.
    answers_held_back: bool = False
    held_back_grounds: str | None = None
    tamperings: list[Tampering] = []
    # What enforcement did and whom notify told, from their events.
    outcome: Outcome = Outcome()
    seen_messages: list[str] = []
    timeline: list[TimelineEntry] = []

    @property
    def deadline_at(self) -> datetime | None:
        return self.deadline.due_at if self.deadline else None

    def next_level(self, policy: Policy | None = None) -> str | None:
        chain = self.chain
        if not chain and policy is not None and self.action_type in policy.action_types:
            chain = policy.action(self.action_type or "").signoff
        approved = [s for s in self.signoffs if s.verdict == "approve"]
        return chain[len(approved)] if len(approved) < len(chain) else None

    def outstanding_levels(self) -> list[str]:
        approved = [s for s in self.signoffs if s.verdict == "approve"]
        return self.chain[len(approved) :]

    def linked(self, kind: LinkKind) -> str | None:
        return next((link.case_id for link in self.links if link.kind is kind), None)

    def with_entry(self, at: datetime, actor: str, action: str, detail: str = "") -> Case:
        entry = TimelineEntry(at=at, actor=actor, action=action, detail=detail)
        return self.model_copy(update={"timeline": [*self.timeline, entry]})

    def is_barred(self, staff: StaffMember) -> Barred | None:
        names = {staff.id.casefold(), staff.email.casefold()} | {
            canonical_account(a).casefold() for a in staff.wiki_accounts
        }
        for bar in self.barred:
            if bar.who.casefold() in names or canonical_account(bar.who).casefold() in names:
                return bar
        return None

    def check_open(self) -> None:
        if self.state in FINAL_STATES:
            raise Rejected.one(
                Kind.CONFLICT, "case_closed", "state", "not_final", f"the case is {self.state}"
            )


class CaseView(Case):
    """The case as one staff member sees it (services/review/usecases/reads.py: `view`)."""

    # Named apart from Case's methods; published under the plain names.
    next_level_: str | None = Field(default=None, alias="next_level")
    outstanding_levels_: list[str] = Field(default=[], alias="outstanding_levels")
    determination_in_full: bool = Field(
        default=True,
        description="False: counsel's text is replaced by what its disclosure allows.",
    )
    reversal_approvals_missing: int = Field(
        default=0, description="Approvals a pending reversal still needs before it takes effect."
    )
    warnings: list[str] = Field(
        default=[],
        description="What the drafter should see before sign-off: `no-evidence-cited` (the"
        " decision cites no evidence), with `evidence-required` when the policy then refuses"
        " approval for this action type.",
    )


def alert_at(case: Case) -> datetime | None:
    """When the deadline duty must next look at the case, if ever."""
    d = case.deadline
    if d is None or d.paused_at is not None or d.breached_flagged:
        return None
    if case.state in FINAL_STATES or case.state is CaseState.ENFORCING_AWAITING_SIGNOFF:
        return None
    return d.due_at if d.at_risk_flagged else d.at_risk_at


Text = Annotated[str, Field(min_length=1, max_length=20_000)]

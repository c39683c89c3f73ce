"""Events review publishes: cases opened, decisions approved, declined or reversed,
deadlines at risk or breached, inquiries answered, restorations ordered."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from casework.contract.common import NAMESPACE, AwareDatetime, EventData, Part, WikiId
from casework.contract.decision import Decision, SignOff
from casework.contract.intake import Requester, SubmissionKind


class CaseOpened(EventData):
    TYPE = f"{NAMESPACE}.review.case-opened.v1"
    PRODUCER = "review"

    case_id: str
    submission_id: str
    action_type: str | None
    routed_to: str
    opened_at: AwareDatetime
    deadline_at: AwareDatetime | None
    kind: SubmissionKind = SubmissionKind.REQUEST
    urgent: bool = False
    linked_to: str | None = Field(default=None, description="Earlier case it refers to.")

    def event_subject(self) -> str:
        return self.case_id


class DecisionApproved(EventData):
    """The policy's sign-off chain approved; enforcement may act.

    `expedited` (child protection): one legal approval let enforcement proceed;
    `outstanding_levels` must still sign afterwards.
    """

    TYPE = f"{NAMESPACE}.review.decision-approved.v1"
    PRODUCER = "review"

    case_id: str
    decision: Decision
    signoffs: list[SignOff]
    approved_at: AwareDatetime
    expedited: bool = False
    outstanding_levels: list[str] = Field(default_factory=list)
    requester: Requester | None = Field(
        default=None, description="Private: for the requester's outcome message only."
    )

    def event_subject(self) -> str:
        return self.case_id


class DecisionDeclined(EventData):
    TYPE = f"{NAMESPACE}.review.decision-declined.v1"
    PRODUCER = "review"

    case_id: str
    level: str
    staff_id: str
    comment: str
    declined_at: AwareDatetime
    requester: Requester | None = Field(
        default=None, description="Private: for the requester's outcome message only."
    )

    def event_subject(self) -> str:
        return self.case_id


class DecisionReversed(EventData):
    """An approved decision is undone (appeal upheld, error); enforcement undoes exactly it.

    `approvals`: one sign-off per person who approved the reversal, at the reversal level
    they hold; the policy's `review.reversal_approvals` says how many distinct people a
    decision with this chain length needs. `declined-after-expedited`: a later chain level
    declined after expedited enforcement; its one declining sign-off is the approval.
    """

    TYPE = f"{NAMESPACE}.review.decision-reversed.v1"
    PRODUCER = "review"

    case_id: str
    decision: Decision
    reason: str = Field(description="Public-level reason for the reversal.")
    reversed_by: str = Field(description="Whose approval completed the reversal.")
    appeal_case_id: str | None = None
    reversed_at: AwareDatetime
    approvals: list[SignOff] = Field(default_factory=list)
    grounds: Literal["appeal-upheld", "error", "declined-after-expedited"] | None = None

    def event_subject(self) -> str:
        return self.case_id


class DeadlineAtRisk(EventData):
    TYPE = f"{NAMESPACE}.review.deadline-at-risk.v1"
    PRODUCER = "review"

    case_id: str
    action_type: str | None
    deadline_at: AwareDatetime
    detected_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class DeadlineBreached(EventData):
    TYPE = f"{NAMESPACE}.review.deadline-breached.v1"
    PRODUCER = "review"

    case_id: str
    action_type: str | None
    deadline_at: AwareDatetime
    detected_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class InquiryAnswer(Part):
    question: str
    outcome: Literal["answered", "refused"]
    text: str = Field(description="The answer, or the grounds of the refusal.")


class InquiryAnswered(EventData):
    """Every question of an inquiry answered or refused on the record."""

    TYPE = f"{NAMESPACE}.review.inquiry-answered.v1"
    PRODUCER = "review"

    case_id: str
    about_case_id: str | None
    answers: list[InquiryAnswer] = Field(min_length=1)
    requester: Requester
    answered_by: str
    answered_at: AwareDatetime
    asked_at: AwareDatetime | None = None
    deadline_at: AwareDatetime | None = Field(
        default=None, description="The inquiry's due date, pauses included."
    )
    held_back: bool = Field(
        default=False, description="Staff chose not to publish the answers (grounds required)."
    )
    held_back_grounds: Annotated[str, Field(max_length=2000)] | None = None

    def event_subject(self) -> str:
        return self.case_id


class RestorationOrdered(EventData):
    """Staff chose to put back what someone else changed (after a tampering event)."""

    TYPE = f"{NAMESPACE}.review.restoration-ordered.v1"
    PRODUCER = "review"

    case_id: str
    wiki: WikiId
    tampering_id: str
    ordered_by: str
    ordered_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


ProgressStage = Literal[
    "under-review",
    "waiting-for-you",
    "approved",
    "declined",
    "enforced",
    "reversed",
    "expired",
    "answered",
    "merged",
    "closed",
]


class CaseProgressed(EventData):
    """Where a requester's case stands, for their tracking page: public level (a stage and
    dates, never a reason, a person or a decision's content). Only for cases opened from a
    submission; sent when the stage or the appeal window changes."""

    TYPE = f"{NAMESPACE}.review.case-progressed.v1"
    PRODUCER = "review"

    case_id: str
    submission_id: str
    stage: ProgressStage
    appeal_until: AwareDatetime | None = None
    at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class DuplicateMerged(EventData):
    """Staff merged a duplicate request into the case it duplicates: its requester is told
    the outcome of that case, under their own reference. Signed: it decides who is mailed."""

    TYPE = f"{NAMESPACE}.review.duplicate-merged.v1"
    PRODUCER = "review"

    case_id: str = Field(description="The case the duplicate was merged into.")
    duplicate_case_id: str
    duplicate_submission_id: str
    merged_by: str
    merged_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id  # with the original's events: in order with its decision


class RetryOrdered(EventData):
    """Staff ordered an operation that failed for good to be tried again (the cause was
    mended outside the system, e.g. a right granted to the role account)."""

    TYPE = f"{NAMESPACE}.review.retry-ordered.v1"
    PRODUCER = "review"

    case_id: str
    wiki: WikiId
    kind: str
    target: str
    ordered_by: str
    ordered_at: AwareDatetime
    reason: str = Field(min_length=1, max_length=2000)

    def event_subject(self) -> str:
        return self.case_id


EVENTS: tuple[type[EventData], ...] = (
    CaseOpened,
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    DeadlineAtRisk,
    DeadlineBreached,
    InquiryAnswered,
    RestorationOrdered,
    CaseProgressed,
    DuplicateMerged,
    RetryOrdered,
)

"""Events intake publishes: submissions accepted, incomplete, and later correspondence."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from casework.contract.common import (
    NAMESPACE,
    Account,
    AwareDatetime,
    Email,
    EventData,
    EvidenceLocation,
    Language,
    Part,
    Url,
    WikiId,
)


class Channel(StrEnum):
    API = "api"
    FORM = "form"
    EMAIL = "email"


class SubmissionKind(StrEnum):
    """Every kind of submission the policy knows (DESIGN.md §1)."""

    REQUEST = "request"
    DMCA_NOTICE = "dmca-notice"
    CHILD_PROTECTION_REPORT = "child-protection-report"
    APPEAL = "appeal"
    BREACH_REPORT = "breach-report"
    ABUSE_REPORT = "abuse-report"
    INQUIRY = "inquiry"


class BreachKind(StrEnum):
    """Post-action monitoring: how a banned user came back."""

    SOCK = "sock"
    CONTENT = "content"
    EVENT_PRESENCE = "event-presence"


class EvidenceItem(Part):
    url: Url
    description: Annotated[str, Field(min_length=1, max_length=2000)]
    where: EvidenceLocation


class Requester(Part):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Email
    language: Language = "en"
    named_publicly: bool = Field(
        default=False,
        description="An inquirer's choice to be named on the public portal (off unless chosen).",
    )


class Subject(Part):
    account: Account
    wikis: list[WikiId] = Field(
        default_factory=list, description="Wikis concerned; empty means every wiki of the farm."
    )


class DmcaNotice(Part):
    """The statutory elements of a DMCA notice (17 U.S.C. § 512(c)(3)(A))."""

    copyrighted_work: Annotated[str, Field(min_length=1, max_length=5000)]
    infringing_material: Annotated[str, Field(min_length=1, max_length=5000)]
    locations: list[Url] = Field(min_length=1)
    contact_address: Annotated[str, Field(min_length=1, max_length=1000)]
    contact_phone: str = ""
    good_faith_statement: bool
    accuracy_statement: bool
    signature: Annotated[str, Field(min_length=1, max_length=200)]


class ScreeningFlag(Part):
    """A screening rule that matched: the submission goes to human triage, never dropped."""

    rule: str
    reason: str
    matched: str = Field(default="", description="The words that matched (staff level).")


class Attachment(Part):
    """An attachment kept by intake; the bytes stay in intake's store."""

    name: str
    content_type: str
    size: int
    sha256: str


class BannedEventRef(Part):
    name: str
    on: date | None = None


class SubmissionReceived(EventData):
    """Intake accepted a submission; review opens (or links) a case from it.

    Fields beyond the common ones depend on `kind`: `refers_to` names the earlier
    case for an appeal, breach report, abuse report or inquiry; `questions` holds
    an inquiry's questions, one each; `dmca` a DMCA notice's elements.
    """

    TYPE = f"{NAMESPACE}.intake.submission-received.v1"
    PRODUCER = "intake"

    submission_id: str
    kind: SubmissionKind
    channel: Channel
    action_type: str | None = Field(
        default=None, description="The action requested or concerned; None when unknown."
    )
    routed_to: str
    summary: str
    subject: Subject | None = None
    evidence: list[EvidenceItem] = Field(default_factory=list)
    prior_attempts: list[Url] = Field(default_factory=list)
    requester: Requester | None = Field(
        default=None, description="None only for an anonymous child-protection report."
    )
    received_at: AwareDatetime
    urgent: bool = False
    refers_to: str | None = Field(default=None, description="Case id of the earlier action.")
    questions: list[str] = Field(default_factory=list)
    dmca: DmcaNotice | None = None
    breach: BreachKind | None = None
    banned_event: BannedEventRef | None = None
    named_staff: list[str] = Field(
        default_factory=list,
        description="Abuse reports: staff (ids or wiki accounts) the case must be hidden from.",
    )
    screening: list[ScreeningFlag] = Field(default_factory=list)
    duplicate_of: str | None = Field(
        default=None, description="An open submission for the same target and action."
    )
    attachments: list[Attachment] = Field(default_factory=list)

    def event_subject(self) -> str:
        return self.submission_id


class MissingElement(Part):
    field: str
    rule: str
    message: str


class SubmissionIncomplete(EventData):
    """A submission (typically email) lacked required elements; notify asks for them."""

    TYPE = f"{NAMESPACE}.intake.submission-incomplete.v1"
    PRODUCER = "intake"

    reference: str = Field(description="Reference the requester quotes when replying.")
    kind: SubmissionKind
    channel: Channel
    missing: list[MissingElement] = Field(min_length=1)
    requester_email: Email
    requester_name: str = ""
    language: Language = "en"
    in_reply_to: str | None = Field(default=None, description="Message-ID to thread under.")
    received_at: AwareDatetime

    def event_subject(self) -> str:
        return self.reference


class CorrespondenceReceived(EventData):
    """A later message about an existing submission (a reply threaded by reference).

    Only a message intake could tie to the requester (`from_requester`) speaks for them;
    anyone else's (a third party quoting the reference) is filed for staff, flagged. An
    event without the field is from a third party: a tolerant reader must not trust it.
    """

    TYPE = f"{NAMESPACE}.intake.correspondence-received.v1"
    PRODUCER = "intake"

    submission_id: str
    channel: Channel
    sender: Email
    summary: str = Field(description="The text of the message (staff level).")
    message_id: str = ""
    attachments: list[Attachment] = Field(default_factory=list)
    received_at: AwareDatetime
    from_requester: bool = Field(
        default=False,
        description="True only when intake verified the sender is the requester.",
    )
    sender_verified_by: Literal["address", "thread"] | None = Field(
        default=None,
        description="How: the address the submission was made with, or a reply naming a "
        "message of the requester's that intake stored. None for a third party.",
    )

    def event_subject(self) -> str:
        return self.submission_id


EVENTS: tuple[type[EventData], ...] = (
    SubmissionReceived,
    SubmissionIncomplete,
    CorrespondenceReceived,
)

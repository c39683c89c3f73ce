"""The event contract between services: topics, event types and their data.

Defined once here; `docs/asyncapi.yaml` is generated from it
(`python -m casework.catalogue`) and a test fails when the two drift.
Readers are tolerant: unknown fields are ignored, so a producer may add
optional fields without a new version; anything else is a new `.vN` type.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from casework.cloudevents import CloudEvent

NAMESPACE = "officeactions"
SERVICES = ("intake", "review", "enforcement", "notify")


def topic_of(service: str) -> str:
    """The one topic a service publishes its events on."""
    return f"{NAMESPACE}.{service}"


def dead_letter_topic_of(service: str) -> str:
    """Where a consuming service parks the messages it cannot handle."""
    return f"{NAMESPACE}.{service}.dlq"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a UTC offset")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


def _no_signature(value: str) -> str:
    if "~~~" in value:
        raise ValueError("must not contain ~~~ (a wiki would expand it into a signature)")
    return value


# MediaWiki user names: no link or template syntax and no control characters, so a
# name can be written into wikitext safely.
Account = Annotated[
    str,
    Field(min_length=1, max_length=255, pattern=r"^[^#<>\[\]|{}/@:\x00-\x1f\x7f]+$"),
    AfterValidator(_no_signature),
]
WikiId = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]


def canonical_account(name: str) -> str:
    """MediaWiki's form of a user name: underscores are spaces, the first letter upper-case."""
    spaced = " ".join(name.replace("_", " ").split())
    return spaced[:1].upper() + spaced[1:]


class EvidenceLocation(StrEnum):
    """Where an act happened: the seed correspondence's question 2."""

    ON_WIKI_PUBLIC = "on-wiki-public"
    ON_WIKI_PRIVATE = "on-wiki-private"
    OFF_WIKI_PUBLIC = "off-wiki-public"
    OFF_WIKI_PRIVATE = "off-wiki-private"
    IN_PERSON = "in-person"


class Channel(StrEnum):
    API = "api"
    FORM = "form"
    EMAIL = "email"


class SubmissionKind(StrEnum):
    REQUEST = "request"


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EvidenceItem(_Part):
    url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)]
    description: Annotated[str, Field(min_length=1, max_length=2000)]
    where: EvidenceLocation


class Requester(_Part):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Email
    language: Language = "en"


class Subject(_Part):
    account: Account
    wikis: list[WikiId] = Field(
        default_factory=list, description="Wikis concerned; empty means every wiki of the farm."
    )


class AffectedUser(_Part):
    account: Account
    email: Email | None = Field(default=None, description="Staff-level: never published.")
    language: Language = "en"


class ClauseGround(_Part):
    """A clause the decision rests on, with its text as it stood when decided."""

    id: str
    catalogue_version: str
    source: str
    section: str
    text: str


class Decision(_Part):
    action_type: str
    subject: AffectedUser
    wikis: list[WikiId] = Field(default_factory=list, description="Empty means the whole farm.")
    expires_at: AwareDatetime | None = Field(default=None, description="None means indefinite.")
    grounds: list[ClauseGround] = Field(min_length=1)
    public_rationale: Annotated[str, Field(min_length=1, max_length=5000)]
    appealable: bool
    appeal_until: AwareDatetime | None = None


class SignOff(_Part):
    level: str
    staff_id: str
    verdict: str
    comment: str
    languages: list[Language]
    signed_at: AwareDatetime


class OperationStatus(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


class OperationOutcome(_Part):
    wiki: WikiId
    kind: str
    target: str
    status: OperationStatus
    result_id: int | None = Field(
        default=None, description="What the wiki returned: block, log or revision id."
    )
    detail: str = ""


class EventData(BaseModel):
    """Base of every event's data. TYPE is the CloudEvents type, PRODUCER its service."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    TYPE: ClassVar[str]
    PRODUCER: ClassVar[str]

    def event_subject(self) -> str:
        raise NotImplementedError


class SubmissionReceived(EventData):
    """Intake accepted a submission; review opens a case from it."""

    TYPE = f"{NAMESPACE}.intake.submission-received.v1"
    PRODUCER = "intake"

    submission_id: str
    kind: SubmissionKind
    channel: Channel
    action_type: str
    routed_to: str
    summary: str
    subject: Subject
    evidence: list[EvidenceItem]
    prior_attempts: list[str]
    requester: Requester
    received_at: AwareDatetime

    def event_subject(self) -> str:
        return self.submission_id


class CaseOpened(EventData):
    TYPE = f"{NAMESPACE}.review.case-opened.v1"
    PRODUCER = "review"

    case_id: str
    submission_id: str
    action_type: str
    routed_to: str
    opened_at: AwareDatetime
    deadline_at: AwareDatetime | None

    def event_subject(self) -> str:
        return self.case_id


class DecisionApproved(EventData):
    """Every sign-off level of the policy approved; enforcement may act."""

    TYPE = f"{NAMESPACE}.review.decision-approved.v1"
    PRODUCER = "review"

    case_id: str
    decision: Decision
    signoffs: list[SignOff]
    approved_at: AwareDatetime

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

    def event_subject(self) -> str:
        return self.case_id


class ActionEnforced(EventData):
    """Every planned wiki operation of a decision is done or already in place."""

    TYPE = f"{NAMESPACE}.enforcement.action-enforced.v1"
    PRODUCER = "enforcement"

    case_id: str
    decision: Decision
    operations: list[OperationOutcome]
    enforced_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class EnforcementFailed(EventData):
    TYPE = f"{NAMESPACE}.enforcement.enforcement-failed.v1"
    PRODUCER = "enforcement"

    case_id: str
    wiki: WikiId
    kind: str
    target: str
    error_code: str
    error_info: str
    permanent: bool
    failed_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class Audience(StrEnum):
    PUBLIC = "public"
    AFFECTED_USER = "affected-user"
    REQUESTER = "requester"
    FUNCTIONARIES = "functionaries"
    STAFF = "staff"
    LEGAL_PRIVILEGED = "legal-privileged"


class NotificationSent(EventData):
    """A message went out. Carries no address and no body: only where it went."""

    TYPE = f"{NAMESPACE}.notify.notification-sent.v1"
    PRODUCER = "notify"

    case_id: str
    audience: Audience
    channel: str
    reference: str
    sent_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


EVENT_TYPES: dict[str, type[EventData]] = {
    model.TYPE: model
    for model in (
        SubmissionReceived,
        CaseOpened,
        DecisionApproved,
        DecisionDeclined,
        ActionEnforced,
        EnforcementFailed,
        NotificationSent,
    )
}


def to_cloudevent(data: EventData) -> CloudEvent:
    return CloudEvent(
        type=data.TYPE,
        source=f"/{NAMESPACE}/{data.PRODUCER}",
        subject=data.event_subject(),
        data=data.model_dump(mode="json"),
    )


def from_cloudevent(event: CloudEvent) -> EventData | None:
    """Typed data of a known event type; None for types this contract does not know.

    Raises pydantic.ValidationError when a known type carries invalid data.
    """
    model = EVENT_TYPES.get(event.type)
    if model is None:
        return None
    return model.model_validate(event.data)

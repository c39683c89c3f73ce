"""The event contract between services: topics, event types and their data.

Defined once here, one module per producing service (plus `decision`, the
decision every downstream service reads). Readers are tolerant: unknown fields
are ignored, so a producer may add optional fields without a new version;
anything else is a new `.vN` type. Each type's schema is frozen as data in
`schemas/` with example events in `examples/` (casework.contract.frozen), a
check fails when a model breaks its frozen schema (casework.contract.compat),
and `docs/asyncapi.yaml` and the README's events table are generated from it
all (`python -m casework.catalogue`).
"""

from __future__ import annotations

from casework.cloudevents import CloudEvent
from casework.contract import enforcement, intake, monitor, notify, public, reconcile, review
from casework.contract.common import (
    NAMESPACE,
    PUBLIC_TOPIC,
    READ_MODELS,
    SERVICES,
    Account,
    Audience,
    AwareDatetime,
    Email,
    EventData,
    EvidenceLocation,
    Language,
    PageTitle,
    Part,
    Url,
    WikiId,
    canonical_account,
    dead_letter_topic_of,
    topic_for,
    topic_of,
)
from casework.contract.decision import (
    AffectedUser,
    BannedEvent,
    ClauseGround,
    ContentTerms,
    DecidedEvidence,
    Decision,
    Disclosure,
    DisclosurePlan,
    EventBanTerms,
    InteractionBanTerms,
    LegalDetermination,
    NoticePlan,
    PageAction,
    Question,
    Release,
    Removal,
    RightsRemovalTerms,
    SignOff,
)
from casework.contract.enforcement import (
    ActionEnforced,
    ActionExpired,
    ActionRestored,
    ActionReversed,
    EnforcementFailed,
    OperationOutcome,
    OperationStatus,
    TamperingDetected,
)
from casework.contract.intake import (
    Attachment,
    BannedEventRef,
    BreachKind,
    Channel,
    CorrespondenceReceived,
    DmcaNotice,
    EvidenceItem,
    MissingElement,
    Requester,
    ScreeningFlag,
    Subject,
    SubmissionIncomplete,
    SubmissionKind,
    SubmissionReceived,
)
from casework.contract.monitor import AlertKind, AlertRaised, DeadLetterReplayed
from casework.contract.notify import NotificationFailed, NotificationSent
from casework.contract.public import (
    AppealDecided,
    AppealFiled,
    DsaStatementSubmitted,
    InquiryAnswerPublished,
    InquiryReceived,
    LogEntry,
    PublicAnswer,
    PublicInquiryAnswer,
    PublicStatement,
    ReversalPublished,
    StatementPublished,
)
from casework.contract.reconcile import CaseUnreconciled, IntakeCaseUnreconciled
from casework.contract.review import (
    CaseOpened,
    CaseProgressed,
    DeadlineAtRisk,
    DeadlineBreached,
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    DuplicateMerged,
    InquiryAnswer,
    InquiryAnswered,
    ProgressStage,
    RestorationOrdered,
    RetryOrdered,
)

EVENT_TYPES: dict[str, type[EventData]] = {
    model.TYPE: model
    for module in (intake, review, enforcement, notify, public, monitor, reconcile)
    for model in module.EVENTS
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


__all__ = [
    "EVENT_TYPES",
    "NAMESPACE",
    "PUBLIC_TOPIC",
    "READ_MODELS",
    "SERVICES",
    "Account",
    "ActionEnforced",
    "ActionExpired",
    "ActionRestored",
    "ActionReversed",
    "AffectedUser",
    "AlertKind",
    "AlertRaised",
    "AppealDecided",
    "AppealFiled",
    "Attachment",
    "Audience",
    "AwareDatetime",
    "BannedEvent",
    "BannedEventRef",
    "BreachKind",
    "CaseOpened",
    "CaseProgressed",
    "CaseUnreconciled",
    "Channel",
    "ClauseGround",
    "ContentTerms",
    "CorrespondenceReceived",
    "DeadLetterReplayed",
    "DeadlineAtRisk",
    "DeadlineBreached",
    "DecidedEvidence",
    "Decision",
    "DecisionApproved",
    "DecisionDeclined",
    "DecisionReversed",
    "Disclosure",
    "DisclosurePlan",
    "DmcaNotice",
    "DsaStatementSubmitted",
    "DuplicateMerged",
    "Email",
    "EnforcementFailed",
    "EventBanTerms",
    "EventData",
    "EvidenceItem",
    "EvidenceLocation",
    "InquiryAnswer",
    "InquiryAnswerPublished",
    "InquiryAnswered",
    "InquiryReceived",
    "IntakeCaseUnreconciled",
    "InteractionBanTerms",
    "Language",
    "LegalDetermination",
    "LogEntry",
    "MissingElement",
    "NoticePlan",
    "NotificationFailed",
    "NotificationSent",
    "OperationOutcome",
    "OperationStatus",
    "PageAction",
    "PageTitle",
    "Part",
    "ProgressStage",
    "PublicAnswer",
    "PublicInquiryAnswer",
    "PublicStatement",
    "Question",
    "Release",
    "Removal",
    "Requester",
    "RestorationOrdered",
    "RetryOrdered",
    "ReversalPublished",
    "RightsRemovalTerms",
    "ScreeningFlag",
    "SignOff",
    "StatementPublished",
    "Subject",
    "SubmissionIncomplete",
    "SubmissionKind",
    "SubmissionReceived",
    "TamperingDetected",
    "Url",
    "WikiId",
    "canonical_account",
    "dead_letter_topic_of",
    "from_cloudevent",
    "to_cloudevent",
    "topic_for",
    "topic_of",
]

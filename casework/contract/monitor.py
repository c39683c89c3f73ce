"""Events the ops monitor publishes: alerts raised, dead letters replayed."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from casework.contract.common import NAMESPACE, AwareDatetime, Email, EventData, Url


class AlertKind(StrEnum):
    DEADLINE_AT_RISK = "deadline-at-risk"
    DEADLINE_BREACHED = "deadline-breached"
    ENFORCEMENT_FAILED = "enforcement-failed"
    NOTIFICATION_FAILED = "notification-failed"
    DEAD_LETTERED = "dead-lettered"
    TAMPERING_DETECTED = "tampering-detected"
    UNTRUSTED_EVENT = "untrusted-event"
    APPROVED_NOT_ENFORCED = "approved-not-enforced"
    ENFORCED_NOT_TOLD = "enforced-not-told"
    CASE_UNRECONCILED = "case-unreconciled"


class AlertRaised(EventData):
    """Something ops must act on. Raised once per `alert_key`, also across monitor restarts.

    Staff level: notify mails it to `ops_address` (when set) and to no one else.
    """

    TYPE = f"{NAMESPACE}.monitor.alert-raised.v1"
    PRODUCER = "monitor"

    alert_key: str = Field(description="Deterministic: the same problem always has the same key.")
    kind: AlertKind
    case_id: str | None = None
    what_happened: str
    what_to_do: str
    case_url: Url | None = Field(default=None, description="The case in the review console.")
    ops_address: Email | None = Field(default=None, description="Where notify sends the alert.")
    source_event_id: str | None = None
    raised_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id or self.alert_key


class DeadLetterReplayed(EventData):
    """A parked message was published again on its original topic, with its original id."""

    TYPE = f"{NAMESPACE}.monitor.dead-letter-replayed.v1"
    PRODUCER = "monitor"

    dead_letter_topic: str
    partition: int
    offset: int
    original_topic: str
    original_event_id: str | None = None
    case_id: str | None = Field(default=None, description="The original record's key.")
    replayed_by: str
    replayed_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id or f"{self.dead_letter_topic}:{self.partition}:{self.offset}"


EVENTS: tuple[type[EventData], ...] = (AlertRaised, DeadLetterReplayed)

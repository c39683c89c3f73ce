"""Events enforcement publishes: actions enforced, failed, reversed, expired, tampered with,
restored."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from casework.contract.common import NAMESPACE, AwareDatetime, EventData, Part, WikiId
from casework.contract.decision import Decision


class OperationStatus(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


class OperationOutcome(Part):
    wiki: WikiId
    kind: str
    target: str
    status: OperationStatus
    result_id: int | None = Field(
        default=None, description="What the wiki returned: block, log or revision id."
    )
    detail: str = ""


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
    """One operation failed. `permanent` False: it will be retried (`attempt` so far)."""

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
    attempt: int = 1

    def event_subject(self) -> str:
        return self.case_id


class ActionReversed(EventData):
    """What this case put in place was undone, and nothing else."""

    TYPE = f"{NAMESPACE}.enforcement.action-reversed.v1"
    PRODUCER = "enforcement"

    case_id: str
    decision: Decision
    operations: list[OperationOutcome]
    reversed_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class ActionExpired(EventData):
    """A time-limited action ended (by the wiki's own expiry or lifted by enforcement)."""

    TYPE = f"{NAMESPACE}.enforcement.action-expired.v1"
    PRODUCER = "enforcement"

    case_id: str
    decision: Decision
    operations: list[OperationOutcome]
    expired_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class TamperingDetected(EventData):
    """Someone other than the role account changed what an office action put in place."""

    TYPE = f"{NAMESPACE}.enforcement.tampering-detected.v1"
    PRODUCER = "enforcement"

    tampering_id: str
    case_id: str
    wiki: WikiId
    target: str
    log_id: int
    log_type: str
    log_action: str
    performer: str
    comment: str
    logged_at: AwareDatetime
    detected_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class ActionRestored(EventData):
    """On staff's order, one operation someone else had undone was put back in place."""

    TYPE = f"{NAMESPACE}.enforcement.action-restored.v1"
    PRODUCER = "enforcement"

    case_id: str
    tampering_id: str
    operation: OperationOutcome
    ordered_by: str
    restored_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


EVENTS: tuple[type[EventData], ...] = (
    ActionEnforced,
    EnforcementFailed,
    ActionReversed,
    ActionExpired,
    TamperingDetected,
    ActionRestored,
)

"""Events notify publishes: where messages went, and which could not be delivered."""

from __future__ import annotations

from casework.contract.common import NAMESPACE, Audience, AwareDatetime, EventData


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


class NotificationFailed(EventData):
    """A message could not be delivered; `permanent` after the last try or a bounce."""

    TYPE = f"{NAMESPACE}.notify.notification-failed.v1"
    PRODUCER = "notify"

    case_id: str
    audience: Audience
    channel: str
    reason: str
    permanent: bool
    attempt: int
    failed_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


EVENTS: tuple[type[EventData], ...] = (NotificationSent, NotificationFailed)

"""The portal's records: the public events folded, one record per case. Pure.

Events come at least once and in no fixed order (a replay, a rebalance, a topic read again
from its start), so each fold keeps, per slot, the newest event by the event's own key
(a statement: its revision, then when it was published), ties broken by the event's
canonical JSON. Folding the same events in any order, any number of times, gives the same
record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from casework.contract import (
    AppealDecided,
    AppealFiled,
    DsaStatementSubmitted,
    EventData,
    InquiryAnswerPublished,
    InquiryReceived,
    ReversalPublished,
    StatementPublished,
)

E = TypeVar("E", bound=EventData)

ACTIONS = "actions"
APPEALS = "appeals"
INQUIRIES = "inquiries"


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str


class ActionRecord(Record):
    """An office action: its public statement (newest revision), DSA statement, reversal."""

    statement: StatementPublished | None = None
    dsa: DsaStatementSubmitted | None = None
    reversal: ReversalPublished | None = None


class AppealRecord(Record):
    filed: AppealFiled | None = None
    decided: AppealDecided | None = None

    @property
    def about_case_id(self) -> str:
        event = self.filed or self.decided
        assert event is not None
        return event.about_case_id


class InquiryRecord(Record):
    received: InquiryReceived | None = None
    answer: InquiryAnswerPublished | None = None

    @property
    def about_case_id(self) -> str:
        event = self.answer or self.received
        assert event is not None
        return event.about_case_id

    @property
    def asked_at(self) -> datetime:
        event = self.answer or self.received
        assert event is not None
        return event.asked_at

    @property
    def deadline_at(self) -> datetime | None:
        if self.answer is not None and self.answer.deadline_at is not None:
            return self.answer.deadline_at
        return self.received.deadline_at if self.received is not None else None


def newest(current: E | None, arrived: E, key: Callable[[E], tuple[Any, ...]]) -> E:
    """The newer of two events by ``key``; equal keys: the larger canonical JSON, so the
    choice never depends on which came first."""
    if current is None:
        return arrived
    return max((current, arrived), key=lambda e: (key(e), e.model_dump_json()))


def collection_of(event: EventData) -> str:
    """Which records an event is folded into."""
    if isinstance(event, StatementPublished | DsaStatementSubmitted | ReversalPublished):
        return ACTIONS
    if isinstance(event, AppealFiled | AppealDecided):
        return APPEALS
    if isinstance(event, InquiryReceived | InquiryAnswerPublished):
        return INQUIRIES
    raise TypeError(f"{type(event).__name__} is not a public-level event the portal keeps")


def fold_action(record: ActionRecord | None, event: EventData) -> ActionRecord:
    current = record or ActionRecord(case_id=event.event_subject())
    if isinstance(event, StatementPublished):
        kept = newest(current.statement, event, lambda e: (e.revision, e.published_at))
        return current.model_copy(update={"statement": kept})
    if isinstance(event, DsaStatementSubmitted):
        dsa = newest(current.dsa, event, lambda e: (e.revision, e.submitted_at))
        return current.model_copy(update={"dsa": dsa})
    if isinstance(event, ReversalPublished):
        reversal = newest(current.reversal, event, lambda e: (e.published_at, e.reversed_at))
        return current.model_copy(update={"reversal": reversal})
    raise TypeError(f"{type(event).__name__} is not about an action")


def fold_appeal(record: AppealRecord | None, event: EventData) -> AppealRecord:
    current = record or AppealRecord(case_id=event.event_subject())
    if isinstance(event, AppealFiled):
        filed = newest(current.filed, event, lambda e: (e.filed_at,))
        return current.model_copy(update={"filed": filed})
    if isinstance(event, AppealDecided):
        decided = newest(current.decided, event, lambda e: (e.decided_at,))
        return current.model_copy(update={"decided": decided})
    raise TypeError(f"{type(event).__name__} is not about an appeal")


def fold_inquiry(record: InquiryRecord | None, event: EventData) -> InquiryRecord:
    current = record or InquiryRecord(case_id=event.event_subject())
    if isinstance(event, InquiryReceived):
        received = newest(current.received, event, lambda e: (e.asked_at,))
        return current.model_copy(update={"received": received})
    if isinstance(event, InquiryAnswerPublished):
        answer = newest(current.answer, event, lambda e: (e.answered_at,))
        return current.model_copy(update={"answer": answer})
    raise TypeError(f"{type(event).__name__} is not about an inquiry")


FOLDS: dict[str, tuple[type[Record], Callable[[Any, EventData], Record]]] = {
    ACTIONS: (ActionRecord, fold_action),
    APPEALS: (AppealRecord, fold_appeal),
    INQUIRIES: (InquiryRecord, fold_inquiry),
}


def fold(record: Record | None, event: EventData) -> Record:
    """Any record with an event of its kind taken in (``collection_of`` says which)."""
    _, folder = FOLDS[collection_of(event)]
    return folder(record, event)

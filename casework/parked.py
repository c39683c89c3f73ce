"""Outbox entries the broker refuses for good: kept aside in the store, announced as a dead
letter.

The outbox relay parks an entry only when its error can never go away by retrying (see
``is_unpublishable``). The whole event is kept in the service's ``outbox_parked``
collection (nothing is lost); a dead letter without the event's body (which may be the
very thing the broker refuses) goes to the service's dead-letter topic, so the monitor
raises an alert and ops can see the event id and the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)

from casework.kafka import EventPublisher
from casework.kafka.dead_letters import DeadLetter
from casework.store import DocumentStore, DuplicateDocument, OutboxEntry

PARKED = "outbox_parked"

_FOR_GOOD = (
    RecordTooLargeError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
    UnicodeError,  # an event that cannot be encoded never will be
)


def is_unpublishable(error: BaseException) -> bool:
    return isinstance(error, _FOR_GOOD)


@dataclass
class _Unsent:
    """The dead letter's source: the record that could not be written."""

    topic: str
    key: bytes | None
    headers: Sequence[tuple[str, bytes]]
    value: bytes | None = None
    partition: int = -1
    offset: int = -1


class OutboxParking:
    def __init__(
        self, store: DocumentStore, publisher: EventPublisher, service: str, dead_letter_topic: str
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.service = service
        self.dead_letter_topic = dead_letter_topic

    async def park(self, entry: OutboxEntry, error: BaseException, attempts: int) -> None:
        event = entry.event
        try:
            await self.store.insert(
                PARKED,
                {
                    "_id": f"{entry.seq}-{_text(event.id)}",
                    "topic": entry.topic,
                    "event": _json_safe(event.to_dict()),
                    "error": _text(repr(error)),
                    "error_type": type(error).__name__,
                    "attempts": attempts,
                    "parked_at": datetime.now(UTC).isoformat(),
                },
            )
        except DuplicateDocument:
            pass  # parked before a crash; announce again (at least once)
        record = _Unsent(
            topic=entry.topic,
            key=_text(event.subject or "").encode(),
            headers=[
                ("ce_id", _text(event.id).encode()),
                ("ce_type", _text(event.type).encode()),
                ("ce_source", _text(event.source).encode()),
                ("ce_subject", _text(event.subject or "").encode()),
            ],
        )
        letter = DeadLetter.of(
            record, error, attempts=attempts, group_id=f"outbox:{self.service}", event=None
        )
        await self.publisher.publish_raw(self.dead_letter_topic, letter.key, None, letter.headers)


def _text(value: str) -> str:
    """``value`` with anything that is not valid UTF-8 (lone surrogates) replaced."""
    return value.encode("utf-8", "replace").decode("utf-8")


def _json_safe(value: object) -> object:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value

"""What a dead letter is: the original record plus ``dlq_*`` headers saying why."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from casework.cloudevents import CloudEvent, Headers

MAX_ERROR_HEADER_BYTES = 4096


class PermanentError(Exception):
    """Raised by a handler for a record that can never succeed: dead-letter it at once."""


class Record(Protocol):
    """The parts of aiokafka's (untyped) ConsumerRecord used here."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class DeadLetter:
    """A record bound for the dead-letter topic; ``on_dead_letter`` gets it once acknowledged."""

    source_topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers  # the original ones followed by the dlq_* ones
    error: BaseException
    attempts: int  # handler calls made; 0 when the record could not be decoded
    event: CloudEvent | None = None

    @classmethod
    def of(
        cls,
        record: Record,
        error: BaseException,
        *,
        attempts: int,
        group_id: str,
        event: CloudEvent | None = None,
    ) -> DeadLetter:
        message = str(error).encode("utf-8", "replace")[:MAX_ERROR_HEADER_BYTES]
        reasons: Headers = [
            ("dlq_error", message),
            ("dlq_error_type", type(error).__name__.encode()),
            ("dlq_source_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_consumer_group", group_id.encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_time", datetime.now(UTC).isoformat().encode()),
        ]
        return cls(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=[*record.headers, *reasons],
            error=error,
            attempts=attempts,
            event=event,
        )


DeadLetterCallback = Callable[[DeadLetter], Awaitable[None] | None]

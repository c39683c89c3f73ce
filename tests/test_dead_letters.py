"""Poison records on review's input topic are parked in its dead-letter topic, with reasons.

Records are produced straight onto ``officeactions.intake`` with aiokafka, as a broken
or foreign producer would; review (a real process) must park them in
``officeactions.review.dlq`` and keep consuming.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from casework.cloudevents import CloudEvent, to_kafka
from casework.contract import SubmissionReceived, dead_letter_topic_of, topic_of
from deploy.credentials import bus_settings
from services.review.domain.opening import case_id_for
from tests.fixtures.stack import Stack
from tests.support import eventually
from tests.test_end_to_end import metric, submit_and_open, token

pytestmark = pytest.mark.e2e

SOURCE_TOPIC = topic_of("intake")
DEAD_LETTERS = dead_letter_topic_of("review")
GARBAGE = b"\xff\xfe\x00 this is not a cloudevent {"


@dataclass(frozen=True)
class Produced:
    key: bytes
    partition: int
    offset: int


@dataclass(frozen=True)
class Parked:
    garbage: Produced
    invalid: Produced
    invalid_event: CloudEvent
    letters: dict[bytes, Any]  # dead-letter records by key

    def headers(self, produced: Produced) -> dict[str, bytes]:
        return dict(self.letters[produced.key].headers)


def bootstrap(stack: Stack) -> str:
    return f"127.0.0.1:{stack.ports.broker}"


async def produce(stack: Stack) -> tuple[Produced, Produced, CloudEvent]:
    """(a) garbage with no ce_ headers; (b) a well-formed submission event with invalid data."""
    garbage_key = f"garbage-{uuid.uuid4().hex}".encode()
    submission_id = f"R-DLQ{uuid.uuid4().hex[:9].upper()}"
    invalid_event = CloudEvent(
        type=SubmissionReceived.TYPE,
        source="/officeactions/intake",
        subject=submission_id,
        # Missing every other field, and a kind no one knows.
        data={"submission_id": submission_id, "kind": "telepathy"},
    )
    key, value, headers = to_kafka(invalid_event)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap(stack),
        acks="all",
        enable_idempotence=False,
        **bus_settings(bootstrap(stack)).client_options(),
    )
    await producer.start()
    try:
        a = await producer.send_and_wait(SOURCE_TOPIC, GARBAGE, key=garbage_key)
        b = await producer.send_and_wait(SOURCE_TOPIC, value, key=key, headers=headers)
    finally:
        await producer.stop()
    return (
        Produced(garbage_key, a.partition, a.offset),
        Produced(key, b.partition, b.offset),
        invalid_event,
    )


async def read_dead_letters(stack: Stack, keys: set[bytes]) -> dict[bytes, Any]:
    """Read the dead-letter topic from the start, in a fresh group, until ``keys`` are seen."""
    consumer = AIOKafkaConsumer(
        DEAD_LETTERS,
        bootstrap_servers=bootstrap(stack),
        group_id=f"test-dlq-reader-{uuid.uuid4().hex[:10]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        **bus_settings(bootstrap(stack)).client_options(),
    )
    await consumer.start()
    found: dict[bytes, Any] = {}

    async def all_found() -> bool:
        batch = await consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for record in records:
                if record.key in keys:
                    found[record.key] = record
        return keys <= found.keys()

    try:
        await eventually(all_found, timeout=60, what=f"dead letters {sorted(keys)}")
    finally:
        await consumer.stop()
    return found


@pytest.fixture(scope="module")
async def parked(stack: Stack) -> AsyncIterator[Parked]:
    garbage, invalid, event = await produce(stack)
    letters = await read_dead_letters(stack, {garbage.key, invalid.key})
    yield Parked(garbage, invalid, event, letters)


def assert_where_from(headers: dict[str, bytes], produced: Produced) -> None:
    assert headers["dlq_source_topic"] == SOURCE_TOPIC.encode()
    assert headers["dlq_partition"] == str(produced.partition).encode()
    assert headers["dlq_offset"] == str(produced.offset).encode()
    assert headers["dlq_consumer_group"] == b"casework-review"
    assert headers["dlq_time"]


async def test_an_undecodable_record_is_parked_with_its_reasons(parked: Parked) -> None:
    letter = parked.letters[parked.garbage.key]
    headers = parked.headers(parked.garbage)
    assert letter.value == GARBAGE, "the original bytes are kept"
    assert_where_from(headers, parked.garbage)
    assert headers["dlq_error_type"] == b"MalformedEvent"
    assert b"ce_" in headers["dlq_error"], headers["dlq_error"]
    assert headers["dlq_attempts"] == b"0"
    assert not any(name.startswith("ce_") for name in headers)


async def test_a_submission_with_invalid_data_is_parked_with_its_reasons(
    stack: Stack, parked: Parked, http: aiohttp.ClientSession
) -> None:
    letter = parked.letters[parked.invalid.key]
    headers = parked.headers(parked.invalid)
    _, value, original_headers = to_kafka(parked.invalid_event)
    assert letter.value == value
    for name, raw in original_headers:
        assert headers[name] == raw, f"original header {name} kept"
    assert_where_from(headers, parked.invalid)
    assert headers["dlq_error_type"] == b"ValidationError"
    for field in (b"channel", b"received_at", b"kind"):
        assert field in headers["dlq_error"], headers["dlq_error"]
    assert headers["dlq_attempts"] == b"1", "validation errors are never retried"

    case_id = case_id_for(parked.invalid_event.subject)
    async with http.get(
        f"{stack.url('review')}/api/v1/cases/{case_id}", headers=token("alice")
    ) as reply:
        assert reply.status == 404


async def test_review_keeps_consuming_after_dead_letters(
    stack: Stack, parked: Parked, http: aiohttp.ClientSession
) -> None:
    await submit_and_open(http, stack, "Harasser2")


async def test_dead_letters_are_counted(
    stack: Stack, parked: Parked, http: aiohttp.ClientSession
) -> None:
    async def counted() -> bool:
        async with http.get(f"{stack.url('review')}/metrics") as reply:
            text = await reply.text()
        return metric(text, "consumer_events_dead_lettered") >= 2

    await eventually(counted, what="review's dead-letter counter to reach 2")

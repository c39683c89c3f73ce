"""An outbox entry the broker refuses for good is parked, announced on the dead-letter topic,
and no longer holds back the entries after it (real Tansu broker, real SQLite store)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from casework.cloudevents import CloudEvent
from casework.kafka import EventPublisher, KafkaSettings, ensure_topics
from casework.outbox import OutboxRelay
from casework.parked import PARKED, OutboxParking, is_unpublishable
from casework.store import DocumentStore, OutboxMessage, open_store
from tests.fixtures.broker import unique
from tests.support import eventually, holds, topic_events


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[DocumentStore]:
    store = await open_store(f"sqlite:///{tmp_path / 'parking.sqlite3'}")
    yield store
    await store.close()


def _event(case: str, text: str) -> CloudEvent:
    return CloudEvent(
        type="case.test.v1", source="tests/test_outbox_parking", subject=case, data={"t": text}
    )


async def test_an_oversized_entry_is_parked_and_the_rest_goes_out(
    kafka_settings: KafkaSettings, publisher: EventPublisher, sqlite_store: DocumentStore
) -> None:
    topic, dlq = unique("parking"), unique("parking-dlq")
    await ensure_topics(kafka_settings, [topic, dlq], partitions=1)
    small_before, huge, small_after = (
        _event("OA-1", "before"),
        _event("OA-2", "x" * 3_000_000),  # over the producer's 1 MB request limit
        _event("OA-3", "after"),
    )
    for n, event in enumerate((small_before, huge, small_after)):
        await sqlite_store.insert("cases", {"_id": f"c{n}"}, outbox=[OutboxMessage(topic, event)])
    parking = OutboxParking(sqlite_store, publisher, "tests", dlq)
    relay = OutboxRelay(
        sqlite_store,
        publisher.publish,
        publish_many=publisher.publish_many,
        park=parking.park,
        is_poison=is_unpublishable,
        park_after=2,
        backoff_initial=0.01,
        backoff_max=0.05,
    )
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: holds(relay.parked == 1), what="the huge entry to be parked")
        await eventually(
            lambda: _ids_on(kafka_settings.bootstrap_servers, topic, 2), what="both small ones"
        )
    finally:
        relay.stop()
        await asyncio.gather(task, return_exceptions=True)
    published = await topic_events(kafka_settings.bootstrap_servers, topic)
    # Pipelined: what followed the failure may have gone out already and is sent again
    # after it (at least once), so compare what went out, in order of first appearance.
    assert list(dict.fromkeys(e.id for e in published)) == [small_before.id, small_after.id]
    assert await sqlite_store.pending_outbox() == []
    parked = await sqlite_store.find(PARKED)
    assert len(parked) == 1
    assert parked[0]["event"]["id"] == huge.id
    assert parked[0]["event"]["data"] == {"t": "x" * 3_000_000}  # kept whole
    assert parked[0]["error_type"] == "MessageSizeTooLargeError"
    letters = await _dead_letters(kafka_settings.bootstrap_servers, dlq)
    assert len(letters) == 1
    headers = letters[0]
    assert headers["ce_id"] == huge.id
    assert headers["dlq_source_topic"] == topic
    assert headers["dlq_consumer_group"] == "outbox:tests"
    assert headers["dlq_error_type"] == "MessageSizeTooLargeError"


async def test_transient_errors_are_never_parked(sqlite_store: DocumentStore) -> None:
    """A broker that is down fails every entry: those wait, however often they fail."""
    assert not is_unpublishable(KafkaConnectionError())
    assert is_unpublishable(MessageSizeTooLargeError())
    await sqlite_store.insert(
        "cases", {"_id": "c"}, outbox=[OutboxMessage("t", _event("OA-1", "x"))]
    )
    failures = 0

    async def down(topic: str, event: CloudEvent) -> None:
        nonlocal failures
        failures += 1
        raise KafkaConnectionError("broker down")

    async def park(*_: object) -> None:
        raise AssertionError("a transient failure was parked")

    relay = OutboxRelay(
        sqlite_store,
        down,
        park=park,
        is_poison=is_unpublishable,
        park_after=1,
        backoff_initial=0.005,
        backoff_max=0.01,
    )
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: holds(failures >= 5), what="five failed attempts")
    finally:
        relay.stop()
        await asyncio.gather(task, return_exceptions=True)
    assert relay.parked == 0
    assert len(await sqlite_store.pending_outbox()) == 1


async def _ids_on(bootstrap: str, topic: str, count: int) -> bool:
    return len(await topic_events(bootstrap, topic)) >= count


async def _dead_letters(bootstrap: str, topic: str) -> list[dict[str, str]]:
    from aiokafka import AIOKafkaConsumer

    from deploy.credentials import bus_settings

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **bus_settings(bootstrap).client_options(),
    )
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        async with asyncio.timeout(10):
            while not found:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    found += [{k: v.decode() for k, v in r.headers} for r in records]
    finally:
        await consumer.stop()
    return found

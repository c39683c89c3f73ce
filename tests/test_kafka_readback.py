"""The read-back that tells whether the bus still holds a marked record (casework.kafka.
readback), on the session's Tansu broker: it finds the record, names another one, and leaves
its reader assigned to nothing between checks (an assigned reader's fetcher went on fetching
every partition from the mark, and each check threw that away: notify read gigabytes in
the memory benchmark and its RSS grew by half)."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from casework.kafka import EventPublisher, KafkaSettings, ensure_topics
from casework.kafka.publisher import Sent
from casework.kafka.readback import ReadBack
from tests.fixtures.broker import unique
from tests.test_kafka import make_event


@pytest.fixture
async def published(kafka_settings: KafkaSettings) -> dict[TopicPartition, Sent]:
    topic = unique("readback")
    await ensure_topics(kafka_settings, [topic])
    publisher = EventPublisher(kafka_settings)
    await publisher.start()
    try:
        for n in range(20):
            await publisher.publish(topic, make_event(f"case-{n}", n=n))
    finally:
        await publisher.stop()
    return dict(publisher.sent)


async def test_the_marked_records_are_found_and_the_reader_is_left_unassigned(
    kafka_settings: KafkaSettings, published: dict[TopicPartition, Sent]
) -> None:
    readback = ReadBack(kafka_settings, name=unique("readback"))
    try:
        assert len(published) > 1
        assert await readback.find_loss(published) is None
        assert readback._reader is not None and readback._reader.assignment() == set()
        assert await readback.find_loss(published) is None  # and again, after unassigning
        assert readback._reader.assignment() == set()
    finally:
        await readback.close()


async def test_another_record_at_the_mark_is_a_loss(
    kafka_settings: KafkaSettings, published: dict[TopicPartition, Sent]
) -> None:
    tp, mark = next(iter(published.items()))
    wrong = {tp: Sent(offset=mark.offset, event_id="not-this-one")}
    readback = ReadBack(kafka_settings, name=unique("readback"))
    try:
        loss = await readback.find_loss(wrong)
        assert loss is not None and loss.tp == tp and "another event" in loss.reason
        assert readback._reader is not None and readback._reader.assignment() == set()
    finally:
        await readback.close()

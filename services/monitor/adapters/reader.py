"""Reading topics for the command line: from the first offset, without a consumer group."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from casework.kafka import KafkaSettings

IDLE_POLL_MS = 700


async def read_topics(
    kafka: KafkaSettings, topics: list[str], *, follow: bool = False
) -> AsyncIterator[Any | None]:
    """Yield every record of ``topics`` from the start (per partition in order).

    Once caught up it yields ``None``, then stops, or with ``follow`` goes on yielding
    new records. Caught up means a poll found nothing new and every partition is at or
    past its reported end offset (Tansu under-reports end offsets, so the empty poll is
    what decides; the end offsets only keep a slow first fetch from ending early).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id=kafka.client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kafka.client_options(),
    )
    await consumer.start()
    try:
        partitions = []
        for topic in topics:
            found = await _partitions(consumer, topic)
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        if not partitions:
            yield None
            return
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        caught_up = False
        while True:
            batch = await consumer.getmany(timeout_ms=IDLE_POLL_MS)
            for records in batch.values():
                for record in records:
                    yield record
            if batch or caught_up:
                continue
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= ends[tp] for tp in partitions):
                caught_up = True
                yield None
                if not follow:
                    return
    finally:
        await consumer.stop()


async def read_all(kafka: KafkaSettings, topics: list[str]) -> list[Any]:
    return [r async for r in read_topics(kafka, topics) if r is not None]


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    if topic not in await consumer.topics():
        return set()
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.02)  # wait-ok: metadata arrives with the next refresh
    return set()

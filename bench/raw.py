"""Raw limits, measured in the same run as the figures they are compared with."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from casework.kafka import ensure_topics
from deploy.credentials import bus_settings

PAYLOAD = b"x" * 1024


async def kafka_produce_consume(bootstrap: str, count: int) -> dict[str, float]:
    """aiokafka produce (acks=all, like the services) then consume of 1 KB messages."""
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bus_settings(bootstrap), [topic], partitions=1)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", **bus_settings(bootstrap).client_options()
    )
    await producer.start()
    try:
        t0 = time.perf_counter()
        futures = [await producer.send(topic, PAYLOAD, key=str(i).encode()) for i in range(count)]
        await asyncio.gather(*futures)
        produce_s = time.perf_counter() - t0
    finally:
        await producer.stop()
    consume_s = await _consume_all(bootstrap, topic, count)
    return {
        "produce_per_s": count / produce_s,
        "consume_per_s": count / consume_s,
        "both_per_s": count / (produce_s + consume_s),
    }


async def kafka_relay(bootstrap: str, count: int) -> float:
    """Consume each message and produce one in its place: a service's loop with no work."""
    source = f"bench.raw.src.{uuid.uuid4().hex[:8]}"
    sink = f"bench.raw.dst.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bus_settings(bootstrap), [source, sink], partitions=1)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", **bus_settings(bootstrap).client_options()
    )
    await producer.start()
    try:
        futures = [await producer.send(source, PAYLOAD) for _ in range(count)]
        await asyncio.gather(*futures)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **bus_settings(bootstrap).client_options(),
        )
        consumer.assign([TopicPartition(source, 0)])
        await consumer.start()
        try:
            seen = 0
            t0 = time.perf_counter()
            while seen < count:
                batches = await consumer.getmany(timeout_ms=1000, max_records=100)
                for records in batches.values():
                    for record in records:
                        await (await producer.send(sink, record.value))
                        seen += 1
            return count / (time.perf_counter() - t0)
        finally:
            await consumer.stop()
    finally:
        await producer.stop()


async def _consume_all(bootstrap: str, topic: str, count: int) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **bus_settings(bootstrap).client_options(),
    )
    consumer.assign([TopicPartition(topic, 0)])
    await consumer.start()
    try:
        seen = 0
        t0 = time.perf_counter()
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            seen += sum(len(records) for records in batches.values())
        return time.perf_counter() - t0
    finally:
        await consumer.stop()


def sqlite_inserts(path: Path, count: int) -> float:
    """One JSON document per committed transaction, WAL + synchronous=FULL like the store."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE docs (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    body = '{"summary": "' + "x" * 1000 + '"}'
    t0 = time.perf_counter()
    for i in range(count):
        db.execute("BEGIN")
        db.execute("INSERT INTO docs VALUES (?, ?)", (f"doc-{i}", body))
        db.execute("COMMIT")
    seconds = time.perf_counter() - t0
    db.close()
    return count / seconds

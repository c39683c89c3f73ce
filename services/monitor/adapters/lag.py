"""Consumer lag per group: committed offsets against end offsets, through the admin API.

Tansu caveat (DESIGN.md): ListOffsets(latest) answers the newest batch's base offset
+ 1, so when the last batch of a partition held several records the end offset is
under-reported and so is the lag. The monitor reads every record itself, so callers
may pass ``floors`` (the offset after the newest record it read) and the end offset
used is the larger of the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from casework.kafka import KafkaSettings
from services.monitor.settings import GROUP_PREFIX

Lag = dict[str, dict[str, int]]


async def consumer_lag(
    kafka: KafkaSettings,
    topics: Iterable[str],
    *,
    floors: Mapping[tuple[str, int], int] | None = None,
    include_monitor: bool = False,
    request_timeout_ms: int = 10_000,
) -> Lag:
    """{group: {topic: lag}} for every group that committed an offset on ``topics``."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id=f"{kafka.client_id}-lag",
        request_timeout_ms=request_timeout_ms,
        **kafka.client_options(),
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id=f"{kafka.client_id}-lag",
        enable_auto_commit=False,
        request_timeout_ms=request_timeout_ms,
        **kafka.client_options(),
    )
    await admin.start()
    await consumer.start()
    try:
        wanted = sorted(set(topics))
        described = await admin.describe_topics(wanted)
        partitions = [
            TopicPartition(t["topic"], p["partition"])
            for t in described
            if not t.get("error_code")
            for p in t["partitions"]
        ]
        if not partitions:
            return {}
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        for tp in partitions:
            floor = (floors or {}).get((tp.topic, tp.partition), 0)
            ends[tp] = max(ends.get(tp, 0), floor)
        groups = sorted(g for g, _ in await admin.list_consumer_groups())
        result: Lag = {}
        for group in groups:
            if group.startswith(GROUP_PREFIX) and not include_monitor:
                continue
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            by_topic = _lag_of(committed, ends)
            if by_topic:
                result[group] = by_topic
        return result
    finally:
        await consumer.stop()
        await admin.close()


def _lag_of(
    committed: Mapping[TopicPartition, object], ends: Mapping[TopicPartition, int]
) -> dict[str, int]:
    consumed = {tp.topic for tp, meta in committed.items() if getattr(meta, "offset", -1) >= 0}
    out: dict[str, int] = {}
    for tp, end in ends.items():
        if tp.topic not in consumed:
            continue
        meta = committed.get(tp)
        offset = max(getattr(meta, "offset", -1), 0)
        out[tp.topic] = out.get(tp.topic, 0) + max(end - offset, 0)
    return out

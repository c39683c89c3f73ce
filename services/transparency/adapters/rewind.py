"""Reading the public topic again from its start, for a store that lost its records.

The portal is a read model: everything it holds comes from ``officeactions.public``. A new or
wiped store has none of it while the consumer group's committed offsets say the topic was
read; so before the consumer joins, a store with no records sets the group's offsets back
to the start of every partition, and the consumer reads the topic again (the fold is
idempotent and order-free: what was already kept is not changed). What the broker no longer
holds (retention, a lost bus) is gone from the portal too until notify publishes it again
(its outbox history, README "When the bus loses data").
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from casework.kafka import KafkaSettings

log = logging.getLogger(__name__)


async def rewind_group(settings: KafkaSettings, group_id: str, topic: str) -> int:
    """Commit offset 0 on every partition of ``topic`` for ``group_id`` (no member of the
    group may be running: the broker refuses a commit to an active group). How many
    partitions were rewound."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-rewind",
        group_id=group_id,
        enable_auto_commit=False,
        request_timeout_ms=settings.request_timeout_ms,
        **settings.client_options(),
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer.topics()  # metadata refresh
            partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not assigned:
            return 0
        consumer.assign(assigned)
        await consumer.commit({tp: OffsetAndMetadata(0, "") for tp in assigned})
        log.info(
            "group %s rewound to the start of %s (%d partitions)", group_id, topic, len(assigned)
        )
        return len(assigned)
    finally:
        await consumer.stop()

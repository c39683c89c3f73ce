"""A topic deleted and recreated under a running consumer, on a broker that keeps running
(an operator's mistake, or a tool's; the issue names it beside a broker restart).

The consumer is handling the last of 8 events (offsets 0 to 7 of one partition) when the
topic is deleted, created again and 12 more events are published to it, at offsets 0 to
11. The consumer must notice and read the new topic from its start.

Its offset commit on the new topic succeeds (so the rebuild on failing commits is not
triggered) and its fetch position stays at 8: only the position watch, which reads back
the last record handled on each partition (offset 7 now holds another event), notices.
With the watch off the events at offsets 0 to 7 of the new topic (n = 8 to 15) are
never handled: the strict xfail shows the test can fail. A broker restart, by contrast,
is got through either way: aiokafka's heartbeat finds the member unknown and rejoins,
and the group's offsets are gone with the broker (tests/test_bus_loss.py).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from casework.cloudevents import CloudEvent
from casework.kafka import EventPublisher, KafkaSettings, ensure_topics
from casework.store.sqlite import SqliteStore
from deploy.broker import TansuBroker
from tests.fixtures.broker import unique
from tests.support import eventually, holds
from tests.test_bus_loss import Effects, broker, consuming, settings_of

__all__ = ["broker"]  # the fixture: a broker of this module's tests alone

BEFORE = 8  # events handled before the topic is deleted
AFTER = 12  # published to the recreated topic
WITHIN = 20.0  # seconds for every event to be handled

WITHOUT_WATCH = pytest.mark.xfail(
    strict=True,
    reason="without the position watch the consumer keeps its fetch position on the"
    " recreated topic and skips the records below it",
)


def event(n: int) -> CloudEvent:
    return CloudEvent(type="case.test", source="tests", subject="case-1", data={"n": n})


@pytest.mark.parametrize(
    "check_seconds",
    [0.5, pytest.param(0.0, marks=WITHOUT_WATCH)],
    ids=["position-watch", "no-position-watch"],
)
async def test_every_event_of_a_topic_recreated_under_a_running_consumer_is_handled(
    broker: TansuBroker, tmp_path: Path, check_seconds: float
) -> None:
    settings = replace(settings_of(broker), position_check_seconds=check_seconds)
    topics = [unique("cases"), unique("cases-dlq")]
    await ensure_topics(settings, topics, partitions=2)
    publisher = EventPublisher(settings)
    await publisher.start()
    effects = Effects(await SqliteStore.open(str(tmp_path / "consumer.sqlite3")))
    effects.hold = BEFORE - 1
    try:
        async with consuming(settings, topics, unique("group"), effects, publisher) as consumer:
            for n in range(BEFORE):  # one key: one partition, offsets 0 to 7
                await publisher.publish(topics[0], event(n))
            await eventually(
                lambda: holds(effects.deliveries[BEFORE - 1] == 1), timeout=20, what="last held"
            )
            # All done while the consumer's handler holds event 7: its next fetch and its
            # commit come after the new topic holds the 12 (no race with an empty topic).
            await delete_topic(settings, topics[0])
            deleted = time.monotonic()
            await ensure_topics(settings, topics, partitions=2)
            results = await publisher.publish_many(
                [(topics[0], event(n)) for n in range(BEFORE, BEFORE + AFTER)]
            )
            assert results == [None] * AFTER
            effects.release.set()
            everything = Counter(range(BEFORE + AFTER))
            await eventually(
                lambda: holds(effects.applied == everything),
                timeout=WITHIN,
                what="every event of the recreated topic handled",
            )
            assert consumer.rewinds >= 1
            print(
                f"{consumer.rewinds} rewinds, {consumer.rebuilds} rebuilds;"
                f" all {BEFORE + AFTER} handled {time.monotonic() - deleted:.1f} s after"
                " the deletion"
            )
    finally:
        await publisher.stop()
        await effects.store.close()


async def delete_topic(settings: KafkaSettings, topic: str) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-admin",
        **settings.client_options(),
    )
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()

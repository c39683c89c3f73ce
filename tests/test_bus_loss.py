"""A bus that loses its data: Tansu (memory storage) SIGKILLed and restarted on its port.

Wired as a service is (``casework.runtime``): a store with an outbox, the relay with the
bus watch under it, a consumer whose stall turns ``/healthz`` (the ``broker`` check) to
503. Every event published before the kill, consumed or not, must be handled, exactly
once in effect (the handler is idempotent as the services' are: keyed by event id).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from casework.cloudevents import CloudEvent
from casework.http import make_app
from casework.kafka import EventConsumer, EventPublisher, KafkaSettings, ensure_topics
from casework.kafka.watch import MARKS, BusWatch
from casework.outbox import OutboxRelay
from casework.runtime import bus_health, relay_and_watch
from casework.store import DocumentStore, DuplicateDocument, OutboxMessage
from casework.store.sqlite import SqliteStore
from deploy.broker import TansuBroker
from tests.fixtures.broker import sigkill_and_restart, unique
from tests.support import eventually, free_port, holds, running

log = logging.getLogger(__name__)

N = 40  # events in all
FIRST = 15  # consumed before the broker dies; the rest die unconsumed with it
STALL = 2.0  # CASEWORK_STALL_SECONDS of this test
RECOVERY_BOUND = 30.0  # seconds from the restart until every event is handled


@pytest.fixture
def broker() -> Iterator[TansuBroker]:
    """A broker of this test alone: the test kills it."""
    broker = TansuBroker(free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def settings_of(broker: TansuBroker) -> KafkaSettings:
    return broker.settings(
        client_id=unique("bus-loss"),
        session_timeout_ms=1500,
        request_timeout_ms=3000,
        retry_initial_backoff_ms=20,
        retry_max_backoff_ms=500,
        commit_timeout_ms=1000,
    )


class Effects:
    """An idempotent handler: one effect document per event id (a repeat is absorbed by
    the duplicate insert, as review's, enforcement's and notify's handlers do)."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self.deliveries: Counter[int] = Counter()
        self.applied: Counter[int] = Counter()
        self.hold: int | None = None  # this event's handler waits for ``release``
        self.release = asyncio.Event()

    async def __call__(self, event: CloudEvent) -> None:
        n = int(event.data["n"])
        self.deliveries[n] += 1
        if n == self.hold:
            await self.release.wait()
        try:
            await self.store.insert("effects", {"_id": event.id, "n": n})
        except DuplicateDocument:
            return
        self.applied[n] += 1


class Producer:
    """The publishing side of a service: store, outbox relay and bus watch."""

    def __init__(
        self,
        store: DocumentStore,
        settings: KafkaSettings,
        topics: list[str],
        *,
        partitions: int = 2,
        marks: bool = False,
    ) -> None:
        self.store = store
        self.publisher = EventPublisher(settings)
        self.relay = OutboxRelay(
            store,
            self.publisher.publish,
            publish_many=self.publisher.publish_many,
            poll_interval=0.05,
            backoff_max=0.5,
        )
        self.watch = BusWatch(
            settings,
            self.publisher,
            topics=topics,
            on_loss=self.relay.request_replay,
            partitions=partitions,
            interval=0.5,
            fetch_timeout=1.0,
            marks=store if marks else None,
        )
        self.topic = topics[0]

    async def write(self, numbers: range) -> None:
        for n in numbers:
            event = CloudEvent(
                type="case.test", source="tests/test_bus_loss", subject=f"case-{n}", data={"n": n}
            )
            await self.store.insert(
                "cases", {"_id": f"case-{n}"}, [OutboxMessage(self.topic, event)]
            )
        self.relay.wake()

    async def all_published(self) -> bool:
        return await self.store.pending_outbox() == []


@asynccontextmanager
async def running_producer(
    tmp_path: Path, settings: KafkaSettings, topics: list[str], **options: Any
) -> AsyncIterator[Producer]:
    store = await SqliteStore.open(str(tmp_path / "producer.sqlite3"))
    try:
        async with lease_holder(store, settings, topics, **options) as producer:
            yield producer
    finally:
        await store.close()


@asynccontextmanager
async def lease_holder(
    store: DocumentStore, settings: KafkaSettings, topics: list[str], **options: Any
) -> AsyncIterator[Producer]:
    """One instance's relay and bus watch over ``store`` (the outbox lease's duty)."""
    producer = Producer(store, settings, topics, **options)
    await producer.publisher.start()
    task = asyncio.create_task(relay_and_watch(producer.relay, producer.watch)())
    try:
        yield producer
    finally:
        producer.relay.stop()
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await producer.publisher.stop()


@asynccontextmanager
async def consuming(
    settings: KafkaSettings,
    topics: list[str],
    group: str,
    handle: Effects,
    publisher: EventPublisher,
) -> AsyncIterator[EventConsumer]:
    consumer = EventConsumer(
        settings,
        topics=[topics[0]],
        group_id=group,
        handle=handle,
        dead_letter_topic=topics[1],
        publisher=publisher,
        stall_seconds=STALL,
    )
    async with running(consumer):
        yield consumer


@asynccontextmanager
async def healthz_of(
    publisher: EventPublisher, consumers: list[EventConsumer]
) -> AsyncIterator[str]:
    """A service's /healthz with the runtime's ``broker`` check over ``consumers``."""
    app = make_app(
        registry=CollectorRegistry(), health_checks={"broker": bus_health(publisher, consumers)}
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/healthz"
    finally:
        await runner.cleanup()


async def health(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as reply:
        return reply.status, await reply.json()


async def test_events_lost_with_the_broker_are_replayed_and_handled_once(
    broker: TansuBroker, tmp_path: Path
) -> None:
    settings = settings_of(broker)
    topics = [unique("cases"), unique("cases-dlq")]
    await ensure_topics(settings, topics, partitions=2)
    group = unique("group")
    effects = Effects(await SqliteStore.open(str(tmp_path / "consumer.sqlite3")))
    consumers: list[EventConsumer] = []
    async with (
        running_producer(tmp_path, settings, topics) as producer,
        healthz_of(producer.publisher, consumers) as url,
        aiohttp.ClientSession() as http,
    ):
        async with consuming(settings, topics, group, effects, producer.publisher) as first:
            consumers.append(first)
            await producer.write(range(FIRST))
            await eventually(
                lambda: holds(len(effects.applied) == FIRST), timeout=20, what="first events"
            )
            assert (await health(http, url))[0] == 200
        consumers.clear()
        # The consumer's service is down while the rest are published: they wait on the bus.
        await producer.write(range(FIRST, N))
        await eventually(producer.all_published, timeout=20, what="all published and marked")
        assert len(effects.applied) == FIRST

        sigkill_and_restart(broker)
        restarted = time.monotonic()
        async with consuming(settings, topics, group, effects, producer.publisher) as second:
            consumers.append(second)
            await eventually(
                lambda: holds(len(effects.applied) == N),
                timeout=RECOVERY_BOUND,
                what="every event handled after the restart",
            )
            recovered = time.monotonic() - restarted
            assert (await health(http, url))[0] == 200
            # One more, whose handler hangs: a stalled consumer, named by /healthz.
            effects.hold = N
            await producer.write(range(N, N + 1))
            _, body = await eventually(
                lambda: _unhealthy(http, url), timeout=10, what="/healthz 503 while stalled"
            )
            error = body["checks"]["broker"]["error"]
            assert f"consumer group {group}" in error and "handling" in error, body
            effects.release.set()
            await eventually(lambda: holds(effects.applied[N] == 1), timeout=10, what="held one")
            await eventually(lambda: _healthy(http, url), timeout=10, what="/healthz 200 again")
        assert effects.applied == Counter(range(N + 1))  # every event's effect exactly once
        assert all(effects.deliveries[n] >= 2 for n in range(FIRST))  # replays were absorbed
        assert producer.watch.losses >= 1
        assert producer.relay.replays >= 1 and producer.relay.replayed >= N
        log.warning(
            "bus loss: %d events, %d lost unconsumed, all handled %.1fs after the restart"
            " (%d deliveries, %d replayed, %d losses noticed)",
            N,
            N - FIRST,
            recovered,
            sum(effects.deliveries.values()),
            producer.relay.replayed,
            producer.watch.losses,
        )
    await effects.store.close()


async def test_a_running_consumer_reads_a_recreated_topic_from_its_start(
    broker: TansuBroker, tmp_path: Path
) -> None:
    settings = settings_of(broker)
    topics = [unique("cases"), unique("cases-dlq")]
    await ensure_topics(settings, topics, partitions=2)
    publisher = EventPublisher(settings)
    await publisher.start()
    effects = Effects(await SqliteStore.open(str(tmp_path / "consumer.sqlite3")))

    def event(n: int) -> CloudEvent:
        return CloudEvent(type="case.test", source="tests", subject="case-1", data={"n": n})

    try:
        async with consuming(settings, topics, unique("group"), effects, publisher) as consumer:
            for n in range(8):  # one partition: its committed offset reaches 8
                await publisher.publish(topics[0], event(n))
            await eventually(lambda: holds(len(effects.applied) == 8), timeout=20, what="first 8")
            sigkill_and_restart(broker)
            restarted = time.monotonic()
            await ensure_topics(settings, topics, partitions=2)
            for n in range(8, 11):  # offsets 0-2 of the new broker, below the committed 8
                await publisher.publish(topics[0], event(n))
            await eventually(
                lambda: holds(len(effects.applied) == 11),
                timeout=RECOVERY_BOUND,
                what="the recreated topic read from its start",
            )
            log.warning(
                "recreated topic read from its start %.1fs after the restart (%d rebuilds)",
                time.monotonic() - restarted,
                consumer.rebuilds,
            )
            assert consumer.stalled() is None
        assert effects.applied == Counter(range(11))
    finally:
        await publisher.stop()
        await effects.store.close()


async def test_a_new_lease_holder_notices_a_loss_its_predecessor_published_before(
    broker: TansuBroker, tmp_path: Path
) -> None:
    """The instance publishing the outbox dies; the broker loses its data before the next
    holder has published anything. The next holder takes over the marks the first saved
    in the store, notices the loss and replays: every event is handled. Without the
    saved marks it has nothing to read back and notices nothing."""
    settings = settings_of(broker)
    topics = [unique("cases"), unique("cases-dlq")]
    await ensure_topics(settings, topics, partitions=2)
    effects = Effects(await SqliteStore.open(str(tmp_path / "consumer.sqlite3")))
    store = await SqliteStore.open(str(tmp_path / "producer.sqlite3"))
    try:
        async with lease_holder(store, settings, topics, marks=True) as first:
            await first.write(range(FIRST))
            await eventually(first.all_published, timeout=20, what="all published")
            await eventually(lambda: _marks_saved(store), timeout=10, what="marks saved")
        sigkill_and_restart(broker)
        restarted = time.monotonic()
        async with lease_holder(store, settings, topics) as unaware:
            assert await unaware.watch.check() is None  # no marks: nothing to read back
        async with (
            lease_holder(store, settings, topics, marks=True) as second,
            consuming(settings, topics, unique("group"), effects, second.publisher),
        ):
            await second.write(range(FIRST, N))
            await eventually(
                lambda: holds(len(effects.applied) == N),
                timeout=RECOVERY_BOUND,
                what="every event handled after the restart",
            )
            assert second.watch.losses == 1 and second.relay.replays >= 1
            log.warning(
                "lease moved across a bus loss: all %d events handled %.1fs after the restart",
                N,
                time.monotonic() - restarted,
            )
        assert effects.applied == Counter(range(N))
    finally:
        await store.close()
        await effects.store.close()


async def test_a_topic_recreated_with_fewer_partitions_is_recovered_from(
    broker: TansuBroker, tmp_path: Path
) -> None:
    """The broker comes back with the topic at 2 partitions where it had 4 (another
    client's auto-create, or an operator's): the watch notices partitions gone, the
    replay and new events land on the 2 that exist, the running consumer's Ownership
    counts 2 partitions, and every event is handled once. The lease holder of before
    died with the broker: the next one starts from its saved marks."""
    settings = settings_of(broker)
    topics = [unique("cases"), unique("cases-dlq")]
    await ensure_topics(settings, topics, partitions=4)
    effects = Effects(await SqliteStore.open(str(tmp_path / "consumer.sqlite3")))
    store = await SqliteStore.open(str(tmp_path / "producer.sqlite3"))
    async with closing_store(effects.store), closing_store(store):
        publisher = EventPublisher(settings)  # the consumer's, for dead letters
        await publisher.start()
        async with consuming(settings, topics, unique("group"), effects, publisher) as c:
            # The lease holder before: publishes to all 4 partitions, saves its marks, dies.
            async with lease_holder(store, settings, topics, partitions=4, marks=True) as first:
                await first.write(range(FIRST))
                await eventually(
                    lambda: holds(len(effects.applied) == FIRST), timeout=20, what="15"
                )
                assert {tp.partition for tp in first.publisher.sent} == {0, 1, 2, 3}
                await eventually(lambda: _marks_saved(store, 4), timeout=10, what="marks saved")
            restarted = await restart_with_fewer_partitions(broker, settings, topics, 2)
            async with lease_holder(store, settings, topics, partitions=4, marks=True) as second:
                await second.write(range(FIRST, N))
                await eventually(
                    lambda: holds(len(effects.applied) == N),
                    timeout=RECOVERY_BOUND,
                    what="every event handled on the smaller topic",
                )
                recovered = time.monotonic() - restarted
                await eventually(
                    lambda: holds(second.relay.replays >= 1 and not second.relay.replaying),
                    timeout=RECOVERY_BOUND,
                    what="the loss noticed and the history replayed",
                )
                assert {tp.partition for tp in second.publisher.sent} == {0, 1}
                log.warning(
                    "topic recreated with 2 partitions instead of 4: all %d events handled"
                    " %.1fs after the restart (%d losses noticed)",
                    N,
                    recovered,
                    second.watch.losses,
                )
                await eventually(
                    lambda: holds(c.ownership.partitions == frozenset({0, 1})),
                    timeout=RECOVERY_BOUND,
                    what=f"the consumer owning the 2 partitions, not {c.ownership.partitions}",
                )
        await publisher.stop()
        assert effects.applied == Counter(range(N))


async def restart_with_fewer_partitions(
    broker: TansuBroker, settings: KafkaSettings, topics: list[str], partitions: int
) -> float:
    """SIGKILL and restart the broker, then create ``topics`` with ``partitions``; again
    if a running client's request made Tansu auto-create one first (with its 4)."""
    for _ in range(10):
        sigkill_and_restart(broker)
        restarted = time.monotonic()
        await ensure_topics(settings, topics, partitions=partitions)
        if await partition_count(settings, topics[0]) == partitions:
            return restarted
    raise AssertionError(f"{topics[0]} was auto-created before it could be, 10 times")


async def partition_count(settings: KafkaSettings, topic: str) -> int:
    publisher = EventPublisher(settings)
    await publisher.start()
    try:
        producer: Any = getattr(publisher, "_producer")  # noqa: B009
        await producer.client.force_metadata_update()
        return len(producer.client.cluster.partitions_for_topic(topic) or ())
    finally:
        await publisher.stop()


@asynccontextmanager
async def closing_store(store: DocumentStore) -> AsyncIterator[DocumentStore]:
    try:
        yield store
    finally:
        await store.close()


async def _marks_saved(store: DocumentStore, partitions: int = 1) -> bool:
    doc = await store.get(MARKS, "published")
    return doc is not None and len(doc["sent"]) >= partitions


async def _unhealthy(http: aiohttp.ClientSession, url: str) -> tuple[int, Any] | None:
    status, body = await health(http, url)
    return (status, body) if status == 503 else None


async def _healthy(http: aiohttp.ClientSession, url: str) -> bool:
    return (await health(http, url))[0] == 200

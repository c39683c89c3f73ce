"""casework.kafka against a real Tansu broker (no Kafka mocks)."""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from casework.cloudevents import CloudEvent, to_kafka
from casework.kafka import (
    DeadLetter,
    EventConsumer,
    EventPublisher,
    Handler,
    KafkaSettings,
    PermanentError,
    ensure_topics,
)
from casework.kafka.watch import BusWatch
from deploy.broker import TansuBroker
from tests.fixtures.broker import (
    unique,
    wait_for,
)
from tests.support import free_port, running


def make_event(subject: str, **data: Any) -> CloudEvent:
    return CloudEvent(type="case.test", source="tests/test_kafka", subject=subject, data=data)


@pytest.fixture
def settings(kafka_settings: KafkaSettings) -> KafkaSettings:
    return kafka_settings


@pytest.fixture
async def topics(settings: KafkaSettings) -> tuple[str, str]:
    """A fresh (topic, dead-letter topic) pair."""
    topic, dlq = unique("cases"), unique("cases-dlq")
    await ensure_topics(settings, [topic, dlq])
    return topic, dlq


def new_consumer(
    settings: KafkaSettings,
    publisher: EventPublisher,
    topics: tuple[str, str],
    group_id: str,
    handle: Handler,
    **kwargs: Any,
) -> EventConsumer:
    topic, dlq = topics
    return EventConsumer(
        settings,
        topics=[topic],
        group_id=group_id,
        handle=handle,
        dead_letter_topic=dlq,
        publisher=publisher,
        **kwargs,
    )


async def read_records(settings: KafkaSettings, topic: str, count: int) -> list[Any]:
    """Read ``count`` records from the start of ``topic`` without a consumer group."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **settings.client_options(),
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(10):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=100)
                for part in batch.values():
                    records.extend(part)
    finally:
        await consumer.stop()
    return records


def headers_of(record: Any) -> dict[str, bytes]:
    return dict(record.headers)


async def test_ensure_topics_is_idempotent(settings: KafkaSettings) -> None:
    topic = unique("ensure")
    await ensure_topics(settings, [topic], partitions=3)
    await ensure_topics(settings, [topic, topic], partitions=3)

    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **settings.client_options()
    )
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 3


async def test_roundtrip_keeps_ce_headers_key_and_json(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    sent = make_event("case-42", status="received", count=3)
    await publisher.publish(topics[0], sent)

    [record] = await read_records(settings, topics[0], 1)
    headers = headers_of(record)
    assert record.key == b"case-42"
    assert json.loads(record.value) == {"status": "received", "count": 3}
    assert headers["ce_id"] == sent.id.encode()
    assert headers["ce_type"] == b"case.test"
    assert headers["ce_source"] == b"tests/test_kafka"
    assert headers["ce_subject"] == b"case-42"
    assert headers["ce_specversion"] == b"1.0"

    received: list[CloudEvent] = []

    async def handle(event: CloudEvent) -> None:
        received.append(event)

    consumer = new_consumer(settings, publisher, topics, unique("g"), handle)
    async with running(consumer):
        await wait_for(lambda: received, what="the event")
    assert received == [sent]
    assert consumer.handled == 1


async def test_events_of_one_key_keep_their_order(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    keys = ["case-a", "case-b", "case-c"]
    for seq in range(10):
        for key in keys:
            await publisher.publish(topics[0], make_event(key, seq=seq))

    seen: dict[str, list[int]] = {key: [] for key in keys}

    async def handle(event: CloudEvent) -> None:
        seen[event.subject].append(event.data["seq"])

    consumer = new_consumer(settings, publisher, topics, unique("g"), handle)
    async with running(consumer):
        await wait_for(lambda: consumer.handled == 30, what="30 events")
    assert seen == {key: list(range(10)) for key in keys}

    partitions: dict[bytes, set[int]] = {}
    for record in await read_records(settings, topics[0], 30):
        partitions.setdefault(record.key, set()).add(record.partition)
    assert all(len(parts) == 1 for parts in partitions.values())


async def test_publish_many_keeps_the_order_of_each_key(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    keys = ["case-a", "case-b", "case-c"]
    items = [(topics[0], make_event(key, seq=seq)) for seq in range(20) for key in keys]
    assert await publisher.publish_many(items) == [None] * len(items)

    seen: dict[bytes, list[int]] = {}
    for record in await read_records(settings, topics[0], len(items)):
        seen.setdefault(record.key, []).append(json.loads(record.value)["seq"])
    assert seen == {key.encode(): list(range(20)) for key in keys}


async def test_publish_many_reports_each_failure_in_place(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    # The producer refuses a record over its max_request_size (1 MB); the others still go.
    huge = make_event("case-h", blob="x" * (2 * 1024 * 1024))
    items = [(topics[0], make_event("case-1")), (topics[0], huge), (topics[0], make_event("c2"))]
    results = await publisher.publish_many(items)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)


async def test_permanent_error_goes_to_dead_letter_and_consumer_goes_on(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    bad, good = make_event("case-1", ok=False), make_event("case-1", ok=True)
    await publisher.publish(topics[0], bad)
    await publisher.publish(topics[0], good)
    handled: list[str] = []
    letters: list[DeadLetter] = []

    async def handle(event: CloudEvent) -> None:
        if not event.data["ok"]:
            raise PermanentError("case-1 cannot be processed")
        handled.append(event.id)

    group = unique("g")
    consumer = new_consumer(
        settings, publisher, topics, group, handle, on_dead_letter=letters.append
    )
    async with running(consumer):
        await wait_for(lambda: handled, what="the valid event")
    assert handled == [good.id]
    assert (consumer.handled, consumer.dead_lettered, consumer.retried) == (1, 1, 0)

    [letter] = await read_records(settings, topics[1], 1)
    headers = headers_of(letter)
    assert letter.key == b"case-1"
    assert json.loads(letter.value) == {"ok": False}
    assert headers["ce_id"] == bad.id.encode()
    assert headers["dlq_error"] == b"case-1 cannot be processed"
    assert headers["dlq_error_type"] == b"PermanentError"
    assert headers["dlq_source_topic"] == topics[0].encode()
    assert headers["dlq_consumer_group"] == group.encode()
    assert headers["dlq_attempts"] == b"1"
    assert headers["dlq_offset"] == b"0"
    assert int(headers["dlq_partition"]) >= 0
    assert headers["dlq_time"]
    assert [(x.offset, x.event) for x in letters] == [(0, bad)]


async def test_undecodable_records_go_to_dead_letter(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_idempotence=False,
        **settings.client_options(),
    )
    await producer.start()
    try:
        await producer.send_and_wait(topics[0], b'{"no": "headers"}', key=b"case-7")
        _, _, ce_headers = to_kafka(make_event("case-7"))
        await producer.send_and_wait(topics[0], b"{not json", key=b"case-7", headers=ce_headers)
    finally:
        await producer.stop()
    good = make_event("case-7", ok=True)
    await publisher.publish(topics[0], good)
    handled: list[CloudEvent] = []

    async def handle(event: CloudEvent) -> None:
        handled.append(event)

    consumer = new_consumer(settings, publisher, topics, unique("g"), handle)
    async with running(consumer):
        await wait_for(lambda: handled, what="the valid event")
    assert handled == [good]
    assert consumer.dead_lettered == 2

    letters = sorted(await read_records(settings, topics[1], 2), key=lambda r: r.offset)
    assert [letter.value for letter in letters] == [b'{"no": "headers"}', b"{not json"]
    for letter in letters:
        headers = headers_of(letter)
        assert headers["dlq_error_type"] == b"MalformedEvent"
        assert headers["dlq_attempts"] == b"0"
    assert b"ce_specversion" in headers_of(letters[0])["dlq_error"]
    assert b"not JSON" in headers_of(letters[1])["dlq_error"]


async def test_transient_failure_is_retried_then_handled_once(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    await publisher.publish(topics[0], make_event("case-3"))
    calls = 0
    successes = 0

    async def handle(event: CloudEvent) -> None:
        nonlocal calls, successes
        calls += 1
        if calls <= 2:
            raise ConnectionError("store unavailable")
        successes += 1

    consumer = new_consumer(settings, publisher, topics, unique("g"), handle)
    async with running(consumer):
        await wait_for(lambda: consumer.handled == 1, what="the retried event")
    assert (calls, successes) == (3, 1)
    assert (consumer.handled, consumer.retried, consumer.dead_lettered) == (1, 2, 0)


async def test_failure_after_all_attempts_goes_to_dead_letter(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    three_attempts = replace(settings, retry_max_attempts=3, retry_initial_backoff_ms=10)
    await publisher.publish(topics[0], make_event("case-4"))

    async def handle(event: CloudEvent) -> None:
        raise RuntimeError("always broken")

    consumer = new_consumer(three_attempts, publisher, topics, unique("g"), handle)
    async with running(consumer):
        await wait_for(lambda: consumer.dead_lettered == 1, what="the dead letter")
    assert (consumer.handled, consumer.retried) == (0, 2)
    [letter] = await read_records(settings, topics[1], 1)
    assert headers_of(letter)["dlq_attempts"] == b"3"
    assert headers_of(letter)["dlq_error_type"] == b"RuntimeError"


async def test_record_is_redelivered_while_its_dead_letter_cannot_be_sent(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    await publisher.publish(topics[0], make_event("case-11"))
    not_yet_started = EventPublisher(settings)
    calls = 0

    async def refuse(event: CloudEvent) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("never")

    consumer = new_consumer(settings, not_yet_started, topics, unique("g"), refuse)
    try:
        async with running(consumer) as task:
            await wait_for(lambda: calls >= 3, what="redeliveries")
            assert not task.done() and consumer.dead_lettered == 0
            await not_yet_started.start()
            await wait_for(lambda: consumer.dead_lettered == 1, what="the dead letter")
    finally:
        await not_yet_started.stop()
    [letter] = await read_records(settings, topics[1], 1)
    assert headers_of(letter)["dlq_error"] == b"never"


async def test_record_handled_but_not_committed_is_redelivered(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    sent = make_event("case-5")
    await publisher.publish(topics[0], sent)
    group = unique("g")
    first: list[str] = []
    never = asyncio.Event()

    async def handle_then_hang(event: CloudEvent) -> None:
        first.append(event.id)  # the side effect is done ...
        await never.wait()  # ... and the consumer dies before it commits

    consumer = new_consumer(settings, publisher, topics, group, handle_then_hang)
    task = asyncio.create_task(consumer.run())
    await wait_for(lambda: first, what="the first delivery")
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task

    second: list[str] = []

    async def handle(event: CloudEvent) -> None:
        second.append(event.id)

    async with running(new_consumer(settings, publisher, topics, group, handle)):
        await wait_for(lambda: second, what="the redelivery")
    assert first == second == [sent.id]


ROOT = Path(__file__).resolve().parents[1]
CRASHING_CONSUMER = """
import asyncio, sys
from casework.kafka import EventConsumer, EventPublisher
from deploy.credentials import bus_settings

async def main(bootstrap, topic, dlq, group):
    settings = bus_settings(bootstrap, client_id="crasher", session_timeout_ms=1500)
    publisher = EventPublisher(settings)
    await publisher.start()

    async def handle(event):
        print("handled", event.id, flush=True)
        await asyncio.Event().wait()  # killed here, before the commit

    consumer = EventConsumer(settings, topics=[topic], group_id=group, handle=handle,
                             dead_letter_topic=dlq, publisher=publisher)
    await consumer.run()

asyncio.run(main(*sys.argv[1:]))
"""


async def test_consumer_killed_before_commit_is_redelivered(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    sent = make_event("case-10")
    await publisher.publish(topics[0], sent)
    group = unique("g")
    args = [settings.bootstrap_servers, *topics, group]
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_CONSUMER, *args, stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=20)
        assert line.decode().split() == ["handled", sent.id]
    finally:
        child.kill()  # SIGKILL: no commit, no LeaveGroup
        await child.wait()

    handled: list[str] = []

    async def handle(event: CloudEvent) -> None:
        handled.append(event.id)

    # The dead member holds the partitions until its session times out.
    async with running(new_consumer(settings, publisher, topics, group, handle)):
        await wait_for(lambda: handled, timeout_s=20, what="the redelivery")
    assert handled == [sent.id]


async def test_graceful_stop_commits_what_was_handled(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    # One key, so one partition: uncommitted records would come back before the marker.
    events = [make_event("case-6", n=n) for n in range(5)]
    for event in events:
        await publisher.publish(topics[0], event)
    group = unique("g")
    seen: list[int] = []
    in_last = asyncio.Event()
    release_last = asyncio.Event()

    async def handle(event: CloudEvent) -> None:
        if event.data["n"] == 4:
            in_last.set()
            await release_last.wait()
        seen.append(event.data["n"])

    consumer = new_consumer(settings, publisher, topics, group, handle)
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(in_last.wait(), timeout=10)
    stopping = asyncio.create_task(consumer.stop())
    release_last.set()  # stop() waits for the record in hand, which is then committed
    await asyncio.wait_for(stopping, timeout=10)
    await asyncio.wait_for(task, timeout=1)
    assert seen == [0, 1, 2, 3, 4]

    marker = make_event("case-6", n=99)
    await publisher.publish(topics[0], marker)
    again: list[int] = []

    async def handle_again(event: CloudEvent) -> None:
        again.append(event.data["n"])

    async with running(new_consumer(settings, publisher, topics, group, handle_again)):
        await wait_for(lambda: again, what="the marker")
    assert again == [99]


async def test_stop_during_retries_leaves_record_uncommitted(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    slow_retries = replace(settings, retry_initial_backoff_ms=60_000)
    sent = make_event("case-8")
    await publisher.publish(topics[0], sent)
    group = unique("g")

    async def failing(event: CloudEvent) -> None:
        raise RuntimeError("down for now")

    consumer = new_consumer(slow_retries, publisher, topics, group, failing)
    task = asyncio.create_task(consumer.run())
    await wait_for(lambda: consumer.retried == 1, what="the first retry")
    await asyncio.wait_for(consumer.stop(), timeout=5)
    await asyncio.wait_for(task, timeout=1)
    assert (consumer.handled, consumer.dead_lettered) == (0, 0)

    handled: list[str] = []

    async def handle(event: CloudEvent) -> None:
        handled.append(event.id)

    async with running(new_consumer(settings, publisher, topics, group, handle)):
        await wait_for(lambda: handled, what="the redelivery")
    assert handled == [sent.id]


async def test_publisher_recovers_after_broker_restart() -> None:
    with TansuBroker(free_port()) as broker:
        settings = broker.settings(
            client_id=unique("restart"),
            session_timeout_ms=1500,
            request_timeout_ms=5000,
            retry_initial_backoff_ms=20,
            retry_max_backoff_ms=500,
        )
        topic = unique("cases")
        await ensure_topics(settings, [topic])
        pub = EventPublisher(settings)
        await pub.start()
        impatient = EventPublisher(replace(settings, request_timeout_ms=300, retry_max_attempts=2))
        await impatient.start()
        try:
            await pub.publish(topic, make_event("case-9", n=1))
            await asyncio.to_thread(broker.restart)  # memory storage: the topic is gone
            await ensure_topics(settings, [topic])
            await pub.ping()
            after = make_event("case-9", n=2)
            await pub.publish(topic, after)
            [record] = await read_records(settings, topic, 1)
            assert headers_of(record)["ce_id"] == after.id.encode()

            await asyncio.to_thread(broker.stop)
            with pytest.raises(KafkaError):
                await pub.ping()
            with pytest.raises(KafkaError):  # after its bounded attempts
                await impatient.publish(topic, make_event("case-9", n=3))
        finally:
            await pub.stop()
            await impatient.stop()


async def test_bus_watch_sees_a_topic_deleted_and_recreated(
    settings: KafkaSettings, publisher: EventPublisher
) -> None:
    topic = unique("watched")
    await ensure_topics(settings, [topic], partitions=1)
    losses: list[str] = []
    watch = BusWatch(
        settings, publisher, topics=[topic], on_loss=losses.append, partitions=1, interval=0.1
    )
    try:
        assert await watch.check() is None  # nothing published yet: nothing to read back
        for n in range(3):
            await publisher.publish(topic, make_event("case-1", n=n))
        assert await watch.check() is None
        assert watch.checks == 1
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers, **settings.client_options()
        )
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()
        await ensure_topics(settings, [topic], partitions=1)
        for n in range(3):  # the same offsets again, other events
            await publish_unremembered(settings, topic, make_event("case-1", n=n))
        reason = await watch.check_and_recover()
        assert reason is not None and "another event" in reason, reason
        assert losses == [reason]
        assert publisher.sent == {}  # forgotten: the replay publishes and remembers anew
        assert watch.losses == 1
    finally:
        await watch.close()


async def publish_unremembered(settings: KafkaSettings, topic: str, event: CloudEvent) -> None:
    """Publish with a publisher of its own (another service writing to the topic)."""
    other = EventPublisher(settings)
    await other.start()
    try:
        await other.publish(topic, event)
    finally:
        await other.stop()

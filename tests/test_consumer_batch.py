"""EventConsumer handles a polled batch concurrently across cases and in order within each
case; commits stop at the first record not done. Against a real Tansu broker.

Every topic here has one partition, so all the records share it: whatever runs at once
runs at once within one partition's batch.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from casework.cloudevents import CloudEvent
from casework.kafka import (
    EventConsumer,
    EventPublisher,
    Handler,
    KafkaSettings,
    PermanentError,
    ensure_topics,
)
from tests.fixtures.broker import unique, wait_for
from tests.support import running

CASES = [f"case-{i}" for i in range(8)]
PER_CASE = 4


def event(case: str, n: int) -> CloudEvent:
    return CloudEvent(
        type="case.test", source="tests/test_consumer_batch", subject=case, data={"n": n}
    )


@pytest.fixture
def settings(kafka_settings: KafkaSettings) -> KafkaSettings:
    return replace(kafka_settings, handler_concurrency=32)


@pytest.fixture
async def topics(settings: KafkaSettings) -> tuple[str, str]:
    topic, dlq = unique("batch"), unique("batch-dlq")
    await ensure_topics(settings, [topic, dlq], partitions=1)
    return topic, dlq


async def publish_cases(publisher: EventPublisher, topic: str) -> None:
    """PER_CASE events of every case, interleaved (case-0 #0, case-1 #0, …)."""
    await publisher.publish_many(
        [(topic, event(case, n)) for n in range(PER_CASE) for case in CASES]
    )


def consumer_of(
    settings: KafkaSettings,
    publisher: EventPublisher,
    topics: tuple[str, str],
    group: str,
    handle: Handler,
    **kwargs: Any,
) -> EventConsumer:
    return EventConsumer(
        settings,
        topics=[topics[0]],
        group_id=group,
        handle=handle,
        dead_letter_topic=topics[1],
        publisher=publisher,
        **kwargs,
    )


class Recorder:
    """Records what a handler saw: order per case, and how many ran at once."""

    def __init__(self) -> None:
        self.seen: dict[str, list[int]] = defaultdict(list)
        self.in_flight = 0
        self.most = 0
        self.cases_in_flight: set[str] = set()
        self.overlapped: list[str] = []  # a case handled twice at once

    @asynccontextmanager
    async def handling(self, event: CloudEvent) -> AsyncIterator[None]:
        case = str(event.subject)
        if case in self.cases_in_flight:
            self.overlapped.append(case)
        self.cases_in_flight.add(case)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
            self.cases_in_flight.discard(case)
        self.seen[case].append(event.data["n"])

    def total(self) -> int:
        return sum(len(ns) for ns in self.seen.values())


async def test_cases_run_at_once_and_each_case_in_order(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    await publish_cases(publisher, topics[0])
    seen = Recorder()
    together = asyncio.Event()

    async def handle(event: CloudEvent) -> None:
        async with seen.handling(event):
            if seen.in_flight >= 4:
                together.set()
            if event.data["n"] == 0:
                # Handled one at a time, the first case would wait here for ever.
                await asyncio.wait_for(together.wait(), timeout=10)

    async with running(consumer_of(settings, publisher, topics, unique("g"), handle)):
        await wait_for(lambda: seen.total() == len(CASES) * PER_CASE, what="every event")
    assert seen.most >= 4
    assert seen.overlapped == []
    assert {case: ns for case, ns in seen.seen.items()} == {
        case: list(range(PER_CASE)) for case in CASES
    }


async def test_no_more_handlers_run_at_once_than_the_setting_allows(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    await publish_cases(publisher, topics[0])
    seen = Recorder()
    release = asyncio.Event()

    async def handle(event: CloudEvent) -> None:
        async with seen.handling(event):
            await release.wait()

    narrow = replace(settings, handler_concurrency=3)
    consumer = consumer_of(narrow, publisher, topics, unique("g"), handle, stall_seconds=0.2)
    async with running(consumer):
        await wait_for(lambda: seen.in_flight == 3, what="three handlers at once")
        # Those three stay in hand: health names the oldest and how many more there are.
        await wait_for(lambda: consumer.stalled() is not None, what="the stall")
        assert "(2 more in hand)" in str(consumer.stalled())
        release.set()
        await wait_for(lambda: seen.total() == len(CASES) * PER_CASE, what="every event")
    assert seen.most == 3


async def committed(settings: KafkaSettings, group: str, topic: str) -> int | None:
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        **settings.client_options(),
    )
    await reader.start()
    try:
        offset: int | None = await reader.committed(TopicPartition(topic, 0))
        return offset
    finally:
        await reader.stop()


async def test_a_dead_letter_holds_back_nothing_and_repeats_nothing(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    await publish_cases(publisher, topics[0])
    seen = Recorder()
    group = unique("g")

    async def handle(event: CloudEvent) -> None:
        if event.subject == "case-3" and event.data["n"] == 1:
            raise PermanentError("refused")
        async with seen.handling(event):
            pass

    consumer = consumer_of(settings, publisher, topics, group, handle)
    async with running(consumer):
        await wait_for(lambda: seen.total() == len(CASES) * PER_CASE - 1, what="the others")
        await wait_for(lambda: consumer.dead_lettered == 1, what="the dead letter")
    assert seen.seen["case-3"] == [0, 2, 3]
    assert all(seen.seen[case] == list(range(PER_CASE)) for case in CASES if case != "case-3")
    assert await committed(settings, group, topics[0]) == len(CASES) * PER_CASE

    again = Recorder()

    async def handle_again(event: CloudEvent) -> None:
        async with again.handling(event):
            pass

    await publisher.publish(topics[0], event("marker", 99))
    async with running(consumer_of(settings, publisher, topics, group, handle_again)):
        await wait_for(lambda: again.total(), what="the marker")
    assert dict(again.seen) == {"marker": [99]}


async def test_a_record_not_done_stops_the_commit_and_its_case_but_not_the_others(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    await publish_cases(publisher, topics[0])
    slow_retries = replace(settings, retry_initial_backoff_ms=60_000)
    seen = Recorder()
    group = unique("g")

    async def handle(event: CloudEvent) -> None:
        if event.subject == "case-2" and event.data["n"] == 1:
            raise RuntimeError("down for now")  # retried in a minute: stop() comes first
        async with seen.handling(event):
            pass

    consumer = consumer_of(slow_retries, publisher, topics, group, handle)
    async with running(consumer):
        others = (len(CASES) - 1) * PER_CASE + 1  # case-2 #0 was handled
        await wait_for(lambda: seen.total() == others and consumer.retried, what="the others")
    assert seen.seen["case-2"] == [0]  # #2 and #3 wait behind #1
    # case-2 #1 is the tenth record (offset 9): the commit stops right before it.
    assert await committed(settings, group, topics[0]) == len(CASES) + 2

    again = Recorder()

    async def handle_again(event: CloudEvent) -> None:
        async with again.handling(event):
            pass

    async with running(consumer_of(settings, publisher, topics, group, handle_again)):
        await wait_for(lambda: again.total() == len(CASES) * PER_CASE - 10, what="the rest")
    assert again.seen["case-2"] == [1, 2, 3]


async def test_a_dead_letter_not_sent_redelivers_its_record_before_its_case_goes_on(
    settings: KafkaSettings, publisher: EventPublisher, topics: tuple[str, str]
) -> None:
    await publish_cases(publisher, topics[0])
    not_yet_started = EventPublisher(settings)
    seen = Recorder()
    refused = 0

    async def handle(event: CloudEvent) -> None:
        nonlocal refused
        if event.subject == "case-5" and event.data["n"] == 0:
            refused += 1
            raise PermanentError("never")
        async with seen.handling(event):
            pass

    consumer = consumer_of(settings, not_yet_started, topics, unique("g"), handle)
    try:
        async with running(consumer):
            await wait_for(lambda: refused >= 2, what="a redelivery")
            assert seen.seen["case-5"] == []  # its later events wait for it
            await not_yet_started.start()
            await wait_for(lambda: consumer.dead_lettered == 1, what="the dead letter")
            await wait_for(lambda: seen.seen["case-5"] == [1, 2, 3], what="case-5 going on")
    finally:
        await not_yet_started.stop()
    # Others may come twice (redelivered after the seek back), first in order.
    for case in CASES:
        if case != "case-5":
            assert list(dict.fromkeys(seen.seen[case])) == list(range(PER_CASE))

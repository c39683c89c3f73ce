"""Partition ownership with several consumers in one group, on the real Tansu broker: every
event of a case, on whichever topic, reaches the one instance that owns the case; when an
instance leaves, the other owns everything."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import suppress

from casework.cloudevents import CloudEvent
from casework.kafka import EventConsumer, EventPublisher, KafkaSettings, ensure_topics
from casework.kafka.ownership import NotOwned, Ownership, partition_of
from tests.fixtures.broker import unique
from tests.support import eventually, holds

PARTITIONS = 4


def test_partition_of_matches_the_producers_default_partitioner() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    partitioner = DefaultPartitioner()
    for n in range(200):
        key = f"OA-2026-{n:05d}"
        expected = partitioner(key.encode(), list(range(PARTITIONS)), [])
        assert partition_of(key, PARTITIONS) == expected


async def test_working_refuses_cases_of_partitions_not_held() -> None:
    ownership = Ownership()
    case = "OA-2026-00001"
    assert not ownership.owns(case)  # nothing assigned yet
    try:
        async with ownership.working(case):
            raise AssertionError("worked on a case before any assignment")
    except NotOwned:
        pass


async def test_each_case_goes_to_one_instance_across_topics_and_moves_when_it_leaves(
    kafka_settings: KafkaSettings,
) -> None:
    topics = [unique("own-a"), unique("own-b")]
    dlq = unique("own-dlq")
    await ensure_topics(kafka_settings, [*topics, dlq], partitions=PARTITIONS)
    publisher = EventPublisher(kafka_settings)
    await publisher.start()
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)  # case -> {(instance, topic)}
    wrong_owner: list[str] = []
    group = unique("own-group")

    def consumer(name: str) -> EventConsumer:
        ownership = Ownership()

        async def handle(event: CloudEvent) -> None:
            case = event.subject or ""
            if not ownership.owns(case):
                wrong_owner.append(f"{name} handled {case} it does not own")
            seen[case].add((name, str(event.data["topic"])))

        return EventConsumer(
            kafka_settings,
            topics=topics,
            group_id=group,
            handle=handle,
            dead_letter_topic=dlq,
            publisher=publisher,
            ownership=ownership,
        )

    first, second = consumer("first"), consumer("second")
    tasks = [asyncio.create_task(c.run()) for c in (first, second)]
    try:
        await eventually(
            lambda: holds(
                len(first.ownership.partitions) == 2 and len(second.ownership.partitions) == 2
            ),
            what="both instances to own two partitions",
        )
        assert not first.ownership.partitions & second.ownership.partitions
        cases = [f"OA-2026-{n:05d}" for n in range(60)]
        for case in cases:
            for topic in topics:
                await publisher.publish(topic, _event(case, topic))
        await eventually(
            lambda: holds(all(len(seen[c]) == 2 for c in cases)), what="every case on both topics"
        )
        assert not wrong_owner
        instances_of = {case: {name for name, _ in seen[case]} for case in cases}
        assert all(len(names) == 1 for names in instances_of.values()), instances_of
        assert {next(iter(n)) for n in instances_of.values()} == {"first", "second"}
        for case in cases:
            owner = first if first.ownership.owns(case) else second
            assert next(iter(instances_of[case])) == ("first" if owner is first else "second")

        await second.stop(timeout=5)
        await eventually(
            lambda: holds(len(first.ownership.partitions) == PARTITIONS),
            what="the remaining instance to own every partition",
        )
        assert all(first.ownership.owns(case) for case in cases)
        late = [f"OA-2026-9{n:04d}" for n in range(20)]
        for case in late:
            await publisher.publish(topics[0], _event(case, topics[0]))
        await eventually(lambda: holds(all(seen[c] for c in late)), what="the late cases")
        assert all(seen[c] == {("first", topics[0])} for c in late)
        assert not wrong_owner
    finally:
        await first.stop(timeout=5)
        await second.stop(timeout=5)
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
        await publisher.stop()


async def test_revocation_waits_for_work_in_progress() -> None:
    from aiokafka import TopicPartition

    ownership = Ownership()
    ownership.assigned({TopicPartition("t", p) for p in range(PARTITIONS)}, PARTITIONS)
    case = "OA-2026-00042"
    partition = partition_of(case, PARTITIONS)
    release = asyncio.Event()
    entered = asyncio.Event()

    async def work() -> None:
        async with ownership.working(case):
            entered.set()
            await release.wait()

    worker = asyncio.create_task(work())
    await entered.wait()
    revoking = asyncio.create_task(ownership.revoked({TopicPartition("t", partition)}))
    await asyncio.wait({revoking}, timeout=0.2)
    assert not revoking.done()  # still waiting for the work on that partition
    assert not ownership.owns(case)  # but no new work may start on it
    release.set()
    await asyncio.wait_for(revoking, timeout=2)
    await worker


def _event(case: str, topic: str) -> CloudEvent:
    return CloudEvent(
        type="case.test", source="tests/test_ownership", subject=case, data={"topic": topic}
    )

"""OutboxRelay over real stores (sqlite and nx-27017), with a recording publisher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from casework.cloudevents import CloudEvent
from casework.outbox import OutboxRelay
from casework.store import DocumentStore, OutboxMessage

DEADLINE = 5.0


async def wait_until(
    predicate: Callable[[], Awaitable[bool] | bool], what: str, within: float = DEADLINE
) -> None:
    """Wait until ``predicate()`` holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if await result if isinstance(result, Awaitable) else result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.005)  # wait-ok: the poll interval of a deadline wait


class Recorder:
    """Records (topic, n) of each acknowledged publish; can be made to fail or to hang."""

    def __init__(self) -> None:
        self.published: list[tuple[str, int]] = []
        self.attempts = 0
        self.failing = False
        self.hang: asyncio.Event | None = None

    async def __call__(self, topic: str, event: CloudEvent) -> None:
        self.attempts += 1
        if self.hang is not None:
            await self.hang.wait()
        if self.failing:
            raise ConnectionError("broker unavailable")
        self.published.append((topic, event.data["n"]))

    def numbers(self) -> list[int]:
        return [n for _, n in self.published]


def message(n: int, topic: str = "cases.events") -> OutboxMessage:
    event = CloudEvent(type="case.changed", source="tests", subject=f"case-{n}", data={"n": n})
    return OutboxMessage(topic, event)


async def write(docs: DocumentStore, *numbers: int) -> None:
    for n in numbers:
        await docs.insert("cases", {"_id": f"case-{n}"}, [message(n)])


async def no_pending(docs: DocumentStore) -> bool:
    return await docs.pending_outbox() == []


@pytest.fixture
async def running(store: DocumentStore) -> AsyncIterator[Callable[..., OutboxRelay]]:
    """Start relays with run() in a task; stop them and check they ended at teardown."""
    started: list[tuple[OutboxRelay, asyncio.Task[None]]] = []

    def start(publish: Recorder, **options: Any) -> OutboxRelay:
        options.setdefault("poll_interval", 60.0)  # so only wake() or start-up can drain
        relay = OutboxRelay(store, publish, **options)
        started.append((relay, asyncio.create_task(relay.run())))
        return relay

    yield start
    for relay, task in started:
        relay.stop()
        await asyncio.wait_for(task, DEADLINE)


async def test_drains_what_was_stored_before_start(
    store: DocumentStore,
    running: Callable[..., OutboxRelay],
) -> None:
    await write(store, 1, 2, 3)
    await store.insert("notices", {"_id": "n"}, [message(4, "notices.events")])
    recorder = Recorder()
    relay = running(recorder)
    await wait_until(lambda: len(recorder.published) == 4, "start-up drain")
    assert recorder.published == [
        ("cases.events", 1),
        ("cases.events", 2),
        ("cases.events", 3),
        ("notices.events", 4),
    ]
    await wait_until(lambda: no_pending(store), "all marked published")
    assert relay.published == 4
    assert relay.failures == 0


async def test_wake_drains_promptly_in_order(
    store: DocumentStore,
    running: Callable[..., OutboxRelay],
) -> None:
    recorder = Recorder()
    relay = running(recorder, batch=2)
    await wait_until(lambda: relay.drains == 1, "start-up drain done, relay idle")
    await write(store, 1)
    relay.wake()
    await wait_until(lambda: recorder.numbers() == [1], "first wake")
    await write(store, 2, 3, 4, 5, 6)
    await store.replace("cases", {"_id": "case-1"}, expected_version=1, outbox=[message(7)])
    relay.wake()
    # poll_interval is 60 s: only wake() can have made this happen within the deadline.
    await wait_until(lambda: recorder.numbers() == [1, 2, 3, 4, 5, 6, 7], "second wake")
    await wait_until(lambda: no_pending(store), "all marked published")


async def test_failing_publisher_is_retried_and_nothing_is_marked_until_it_succeeds(
    store: DocumentStore,
    running: Callable[..., OutboxRelay],
) -> None:
    recorder = Recorder()
    recorder.failing = True
    await write(store, 1, 2)
    relay = running(recorder, backoff_initial=0.01, backoff_max=0.05)
    await wait_until(lambda: relay.failures >= 3, "several failed attempts")
    assert recorder.published == []
    assert [e.event.data["n"] for e in await store.pending_outbox()] == [1, 2]
    assert isinstance(relay.last_error, ConnectionError)

    recorder.failing = False
    await wait_until(lambda: recorder.numbers() == [1, 2], "publish after recovery")
    await wait_until(lambda: no_pending(store), "all marked published")
    assert relay.published == 2


async def test_stop_is_prompt_when_idle_and_when_a_publish_hangs(
    store: DocumentStore,
    running: Callable[..., OutboxRelay],
) -> None:
    idle = OutboxRelay(store, Recorder(), poll_interval=60.0)
    idle_task = asyncio.create_task(idle.run())
    await wait_until(lambda: idle.drains == 1, "start-up drain done, relay idle")
    idle.stop()
    await asyncio.wait_for(idle_task, 1.0)

    recorder = Recorder()
    recorder.hang = asyncio.Event()
    await write(store, 1)
    hanging = OutboxRelay(store, recorder, poll_interval=60.0)
    hanging_task = asyncio.create_task(hanging.run())
    await wait_until(lambda: recorder.attempts == 1, "publish in flight")
    hanging.stop()
    await asyncio.wait_for(hanging_task, 1.0)
    # An abandoned publish was not acknowledged: it stays pending for the next run.
    assert [e.event.data["n"] for e in await store.pending_outbox()] == [1]
    assert hanging.published == 0

    recorder.hang = None
    running(recorder)
    await wait_until(lambda: recorder.numbers() == [1], "next run publishes it")


async def test_drain_once_publishes_every_batch_in_order(store: DocumentStore) -> None:
    recorder = Recorder()
    relay = OutboxRelay(store, recorder, batch=2)
    await write(store, 1, 2, 3, 4, 5)
    assert await relay.drain_once() == 5
    assert recorder.numbers() == [1, 2, 3, 4, 5]
    assert await store.pending_outbox() == []
    assert await relay.drain_once() == 0


async def test_drain_once_marks_what_was_acknowledged_before_a_failure(
    store: DocumentStore,
) -> None:
    calls = 0

    async def flaky(topic: str, event: CloudEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionError("broker went away")

    relay = OutboxRelay(store, flaky, batch=10)
    await write(store, 1, 2, 3, 4)
    with pytest.raises(ConnectionError):
        await relay.drain_once()
    assert [e.event.data["n"] for e in await store.pending_outbox()] == [3, 4]
    assert relay.published == 2
    assert await relay.drain_once() == 2
    assert await store.pending_outbox() == []


class BatchRecorder:
    """A pipelining publisher: records each batch; item ``fail_at`` of a batch fails once."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_at = fail_at

    async def __call__(self, items: Sequence[tuple[str, CloudEvent]]) -> list[BaseException | None]:
        numbers = [event.data["n"] for _, event in items]
        self.batches.append(numbers)
        results: list[BaseException | None] = [None] * len(items)
        if self.fail_at is not None and self.fail_at < len(items):
            results[self.fail_at] = ConnectionError("broker went away")
            self.fail_at = None
        return results


async def never(topic: str, event: CloudEvent) -> None:
    raise AssertionError("the one-by-one path must not be used when publish_many is given")


async def test_pipelined_drain_sends_whole_batches_in_order(store: DocumentStore) -> None:
    batches = BatchRecorder()
    relay = OutboxRelay(store, never, batch=3, publish_many=batches)
    await write(store, 1, 2, 3, 4, 5)
    assert await relay.drain_once() == 5
    assert batches.batches == [[1, 2, 3], [4, 5]]
    assert await store.pending_outbox() == []


async def test_pipelined_drain_marks_only_the_prefix_before_a_failure(
    store: DocumentStore,
) -> None:
    batches = BatchRecorder(fail_at=2)
    relay = OutboxRelay(store, never, batch=10, publish_many=batches)
    await write(store, 1, 2, 3, 4)
    with pytest.raises(ConnectionError):
        await relay.drain_once()
    # 4 may have gone out too; it is sent again after 3 (at least once, never skipped).
    assert [e.event.data["n"] for e in await store.pending_outbox()] == [3, 4]
    assert await relay.drain_once() == 2
    assert batches.batches == [[1, 2, 3, 4], [3, 4]]
    assert await store.pending_outbox() == []


async def test_replay_publishes_the_kept_history_again_in_order_then_what_is_pending(
    store: DocumentStore,
    running: Callable[..., OutboxRelay],
) -> None:
    recorder = Recorder()
    relay = running(recorder, batch=2)
    await write(store, 1, 2, 3)
    relay.wake()
    await wait_until(lambda: recorder.numbers() == [1, 2, 3], "first publish")
    await wait_until(lambda: no_pending(store), "all marked published")
    recorder.failing = True  # the broker is away: the replay waits for it
    relay.request_replay("test: the bus lost everything")
    await write(store, 4)
    relay.wake()
    await wait_until(lambda: recorder.attempts > 4, "replay attempted while failing")
    assert relay.replaying
    recorder.failing = False
    # The history (three pages of two) again in seq order, then the new entry, once.
    await wait_until(lambda: recorder.numbers() == [1, 2, 3, 1, 2, 3, 4], "replay then drain")
    await wait_until(lambda: no_pending(store), "new entry marked published")
    assert (relay.replays, relay.replayed) == (1, 3)
    assert not relay.replaying


async def test_history_older_than_the_retention_is_purged_and_not_replayed(
    store: DocumentStore,
    running: Callable[..., OutboxRelay],
) -> None:
    await write(store, 1, 2)
    recorder = Recorder()
    relay = running(recorder, retention_seconds=0.2, purge_interval=0.0)
    await wait_until(lambda: recorder.numbers() == [1, 2], "published")
    await wait_until(lambda: no_pending(store), "marked published")

    async def aged() -> bool:  # both fell out of the 0.2 s window
        return await store.published_outbox(time.time() - 0.2) == []

    await wait_until(aged, "entries older than the retention")
    await write(store, 3)
    relay.wake()  # this drain purges 1 and 2 (older than 0.2 s)
    await wait_until(lambda: recorder.numbers() == [1, 2, 3], "third published")
    await wait_until(lambda: no_pending(store), "third marked")
    relay.request_replay("test")
    await wait_until(lambda: relay.replays == 1, "replay done")
    assert recorder.numbers() == [1, 2, 3, 3]
    assert [e.event.data["n"] for e in await store.published_outbox(0)] == [3]

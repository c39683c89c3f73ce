"""Consumer of CloudEvents: a polled batch handled concurrently across cases, in order
within each case; commit after handling, dead letters.

Every event is keyed by its case id, so a batch (the records of one poll, from every
partition of every consumed topic) is split into lanes by key: the records of one key run
one after another in offset order (topic by topic), lanes run concurrently, at most
``handler_concurrency`` handlers at once. A record without a key has its partition's
lane. Each record keeps its own retries and dead letter; a lane stops at a record that is
not done (stop(), or its dead letter could not be published), so a case's later records
never overtake it. After the batch each partition's offset is committed up to its first
record not done (one commit for the batch), and the partition is sought back to that
record: it and whatever followed it are redelivered (handlers are idempotent).

A bus that lost its data (a broker with memory storage restarted, a topic recreated)
leaves a consumer committing offsets of partitions the broker no longer knows; aiokafka
retries such a commit for ever. A commit therefore gets ``commit_timeout_ms``; one that
times out or meets UnknownTopicOrPartition rebuilds the consumer (leave the group, a new
client, rejoin), which reads a recreated topic from its start (``auto_offset_reset``
earliest: the group's offsets are gone with the broker). One WARNING per episode.

``stalled()`` (and the ``health`` check built on it) names a consumer that makes no
progress for ``stall_seconds``: commits failing, no assignment, a record in hand for that
long (its handler keeps failing or hangs), or records waiting while none is handled.

Size: the poll loop, lanes, retries, dead letters, commits, the rebuild and the stall
bookkeeping all act on one client's state (its assignment, lag, records in hand, failing
commits); the position checks are apart (``casework.kafka.positions``).
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Hashable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError
from pydantic import ValidationError

from casework.claims import HeldElsewhere
from casework.cloudevents import CloudEvent, MalformedEvent, from_kafka
from casework.kafka.dead_letters import DeadLetter, DeadLetterCallback, PermanentError, Record
from casework.kafka.ownership import Ownership
from casework.kafka.positions import Positions
from casework.kafka.publisher import EventPublisher, Sent
from casework.kafka.readback import Loss, ReadBack, event_id_of
from casework.kafka.settings import KafkaSettings, retrying
from casework.periodic import every

log = logging.getLogger("casework.kafka")

Handler = Callable[[CloudEvent], Awaitable[None]]

_NEVER_RETRIED = (PermanentError, MalformedEvent, ValidationError)


class _Outcome(enum.Enum):
    DONE = "done"  # handled or dead-lettered: commit
    REDELIVER = "redeliver"  # not even the dead letter went out: seek back, poll again
    STOPPED = "stopped"  # stop() during retries: leave it uncommitted


@dataclass(eq=False)
class _Slot:
    """One record of a polled batch and, once handled, its outcome."""

    tp: TopicPartition
    record: Record
    outcome: _Outcome | None = None


class EventConsumer:
    """Consumes CloudEvents in order per case (key), cases concurrently, committing each
    record only once it and every record before it in its partition are done.

    Counters for metrics: ``handled``, ``dead_lettered``, ``retried``. One instance
    runs once: after ``stop()`` make a new one.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        topics: list[str],
        group_id: str,
        handle: Handler,
        dead_letter_topic: str,
        publisher: EventPublisher,
        on_dead_letter: DeadLetterCallback | None = None,
        ownership: Ownership | None = None,
        stall_seconds: float = 30.0,
    ) -> None:
        self._settings = settings
        self._topics = list(topics)
        self.group_id = group_id
        self._handle = handle
        self._dead_letter_topic = dead_letter_topic
        self._publisher = publisher  # started and stopped by the caller
        self._on_dead_letter = on_dead_letter
        self.ownership = ownership or Ownership()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.handled = 0
        self.dead_lettered = 0
        self.retried = 0
        self.held_elsewhere = 0  # handled again later: another instance was doing it
        self.rebuilds = 0
        self._stall_seconds = stall_seconds
        self._rebuild: str | None = None  # why the consumer must be rebuilt
        self._commit_failing: tuple[float, BaseException] | None = None  # since, last error
        self._unassigned_since: float | None = None  # running without an assignment
        self._lag: dict[TopicPartition, int] = {}  # records known to wait, per partition
        self._progress_at = time.monotonic()  # last record handled or nothing waiting
        self._in_hand: dict[_Slot, float] = {}  # records being handled, since
        self._positions = Positions(group_id)
        self.rewinds = 0
        _quiet_commit_errors()

    @property
    def topics(self) -> list[str]:
        return list(self._topics)

    async def run(self) -> None:
        """Consume until ``stop()``; never raises because of a bad record."""
        self._task = asyncio.current_task()
        self._unassigned_since = time.monotonic()
        consumer = self._new_consumer()
        async for attempt in retrying(self._settings, "consumer start"):
            with attempt:
                await consumer.start()
        log.info("consumer group=%s started topics=%s", self.group_id, self._topics)
        watch = asyncio.create_task(self._watch_positions())
        try:
            while not self._stopping.is_set():
                if self._rebuild is not None:
                    consumer = await self._rebuilt(consumer)
                    continue
                if self._positions.rewind is not None:
                    await self._rewound(consumer, self._positions.rewind)
                batch = await self._poll(consumer)
                if not batch and not any(self._lag.values()):
                    self._progress_at = time.monotonic()  # nothing waits: not stalled
                    self._commit_failing = None
                if batch and not await self._process_batch(consumer, batch):
                    return
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
            await _leave_and_close(consumer)
            log.info("consumer group=%s stopped", self.group_id)

    async def stop(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Let the records in hand finish and be committed, then leave the group.

        No record is started after this; a record whose handler is waiting to be retried
        is left uncommitted. If ``run()`` has not ended after ``timeout`` seconds it is
        cancelled (the records in hand stay uncommitted and are redelivered later).
        """
        self._stopping.set()
        task = self._task
        if task is None or task.done() or task is asyncio.current_task():
            return
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            await asyncio.wait({task})

    def stalled(self) -> str | None:
        """Why this consumer makes no progress (for ``stall_seconds``), or None."""
        now = time.monotonic()
        limit = self._stall_seconds
        if self._commit_failing is not None and now - self._commit_failing[0] > limit:
            since, error = self._commit_failing
            return f"offset commits failing for {now - since:.0f}s: {error!r}"
        if self._unassigned_since is not None and now - self._unassigned_since > limit:
            return f"no partition assignment for {now - self._unassigned_since:.0f}s"
        if self._in_hand:
            slot, since = min(self._in_hand.items(), key=lambda item: item[1])
            if now - since > limit:
                topic, partition, offset = _where(slot.record)
                others = len(self._in_hand) - 1
                more = f" ({others} more in hand)" if others else ""
                return f"handling {topic}[{partition}]@{offset} for {now - since:.0f}s{more}"
        waiting = sum(self._lag.values())
        if waiting and now - self._progress_at > limit:
            return f"{waiting} records waiting, none handled for {now - self._progress_at:.0f}s"
        return None

    async def health(self) -> None:
        """Health check: raise naming the consumer and why it is stalled."""
        problem = self.stalled()
        if problem is not None:
            raise ConsumerStalled(f"consumer group {self.group_id}: {problem}")

    async def _watch_positions(self) -> None:
        """Read back the last record handled on each partition every
        ``position_check_seconds`` (casework.kafka.positions), until stop()."""
        interval = self._settings.position_check_seconds
        if interval <= 0:
            return
        readback = ReadBack(self._settings, name="position-watch")

        async def check() -> None:
            if not self._stopping.is_set():  # stopping: run() cancels this watch
                await self._positions.check(readback)

        try:
            await every("position-watch", interval, check, first_after=interval)()
        finally:
            await readback.close()

    async def _rewound(self, consumer: AIOKafkaConsumer, loss: Loss) -> None:
        """Read every partition of the lost topic that this member holds from its start
        (handlers are idempotent: what is read again was handled, or is new)."""
        self._positions.rewind = None
        lost = [tp for tp in consumer.assignment() if tp.topic == loss.tp.topic]
        self._positions.forget(loss.tp.topic)
        if lost:
            await consumer.seek_to_beginning(*lost)
        self.rewinds += 1
        log.warning(
            "consumer group=%s reads %s again from its start: %s",
            self.group_id,
            loss.tp.topic,
            loss.reason,
        )

    async def _rebuilt(self, old: AIOKafkaConsumer) -> AIOKafkaConsumer:
        """Leave the group, then join again with a new client (until stop())."""
        log.warning("consumer group=%s rebuilt: %s", self.group_id, self._rebuild)
        self._rebuild = None
        self.rebuilds += 1
        self._unassigned_since = time.monotonic()
        self._commit_failing = None
        self._lag.clear()
        await self.ownership.revoked(set(old.assignment()))
        try:
            async with asyncio.timeout(self._settings.request_timeout_ms / 1000):
                await _leave_and_close(old)
        except (TimeoutError, KafkaError) as exc:
            log.info("consumer group=%s left uncleanly: %r", self.group_id, exc)
        attempt = 0
        while True:
            consumer = self._new_consumer()
            try:
                await consumer.start()
                return consumer
            except KafkaError as exc:
                await consumer.stop()
                attempt += 1
                log.info("consumer group=%s restart failed, retrying: %r", self.group_id, exc)
                if await self._sleep_unless_stopped(self._settings.backoff_seconds(attempt)):
                    return consumer  # stopping: run() closes it

    def _new_consumer(self) -> AIOKafkaConsumer:
        s = self._settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers,
            client_id=s.client_id,
            group_id=self.group_id,
            enable_auto_commit=False,
            # Tansu's ListOffsets(latest) is unreliable; committed offsets + earliest are not.
            auto_offset_reset="earliest",
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            rebalance_timeout_ms=s.rebalance_timeout_ms,
            group_instance_id=s.group_instance_id,
            request_timeout_ms=s.request_timeout_ms,
            max_poll_records=s.max_poll_records,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            max_partition_fetch_bytes=s.max_partition_fetch_bytes,
            # Partition p of every consumed topic to the same member: all of a case's
            # events (keyed by case id) reach one instance, whatever topic they come on.
            partition_assignment_strategy=(RangePartitionAssignor,),
            **s.client_options(),
        )
        consumer.subscribe(self._topics, listener=_Listener(consumer, self))
        return consumer

    def assigned(self) -> None:
        """The group gave this member its partitions (perhaps none: more members than
        partitions is not a stall)."""
        self._unassigned_since = None
        self._commit_failing = None  # commits of the old assignment no longer matter
        self._progress_at = time.monotonic()

    def unassigned(self, revoked: Collection[TopicPartition] = ()) -> None:
        self._lag.clear()  # known again after the next fetch
        for tp in revoked:
            self._positions.drop(tp)
        if self._unassigned_since is None:
            self._unassigned_since = time.monotonic()

    async def _poll(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Record]]:
        """The next batch of records, or none as soon as stop() is called."""
        fetch = asyncio.ensure_future(consumer.getmany(timeout_ms=1000))
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not fetch.done():
                fetch.cancel()
                await asyncio.wait({fetch})
        if fetch.cancelled():
            return {}
        batch: dict[TopicPartition, list[Record]] = fetch.result()
        return batch

    async def _process_batch(
        self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[Record]]
    ) -> bool:
        """Handle one poll's records, lane by key; False once the consumer must stop.

        One commit covers the batch: each partition up to its first record not done, and
        the partition is sought back to that record. A crash in between redelivers the
        batch (at least once; handlers are idempotent), as does a rebalance that takes a
        partition mid-batch: its remaining records are left to the next owner, and
        nothing of it is committed or sought here.
        """
        slots = {tp: [_Slot(tp, record) for record in records] for tp, records in batch.items()}
        lanes: dict[Hashable, list[_Slot]] = {}
        for tp, partition_slots in slots.items():
            for slot in partition_slots:
                key = slot.record.key
                lanes.setdefault(tp if key is None else key, []).append(slot)
        gate = asyncio.Semaphore(self._settings.handler_concurrency)
        async with asyncio.TaskGroup() as group:
            for lane in lanes.values():
                group.create_task(self._run_lane(consumer, lane, gate))
        offsets: dict[TopicPartition, int] = {}
        redeliver = False
        for tp, partition_slots in slots.items():
            if not self._ours(consumer, tp):
                continue  # revoked mid-batch: the new owner reads it from the last commit
            done = next(
                (i for i, slot in enumerate(partition_slots) if slot.outcome is not _Outcome.DONE),
                len(partition_slots),
            )
            if done:
                last = partition_slots[done - 1].record
                offsets[tp] = last.offset + 1
                self._positions.handled(tp, Sent(last.offset, event_id_of(last)))
            next_offset = partition_slots[-1].record.offset + 1
            if done < len(partition_slots):
                next_offset = partition_slots[done].record.offset
                if not self._stopping.is_set():
                    consumer.seek(tp, next_offset)
                redeliver |= any(s.outcome is _Outcome.REDELIVER for s in partition_slots)
            hw = consumer.highwater(tp)
            if hw is not None:
                self._lag[tp] = max(0, hw - next_offset)
        if offsets:
            await self._commit(consumer, offsets)
        if self._stopping.is_set():
            return False
        if redeliver:
            await self._sleep_unless_stopped(self._settings.backoff_seconds(1))
        return True

    async def _run_lane(
        self, consumer: AIOKafkaConsumer, lane: list[_Slot], gate: asyncio.Semaphore
    ) -> None:
        """Handle one key's records in order; stop at the first one not done."""
        for slot in lane:
            async with gate:
                if self._stopping.is_set() or not self._ours(consumer, slot.tp):
                    return
                self._in_hand[slot] = time.monotonic()
                try:
                    async with self.ownership.handling(slot.tp.partition):
                        slot.outcome = await self._process(slot.record)
                finally:
                    del self._in_hand[slot]
            if slot.outcome is not _Outcome.DONE:
                return

    def _ours(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> bool:
        return tp in consumer.assignment() and tp.partition in self.ownership.partitions

    async def _process(self, record: Record) -> _Outcome:
        try:
            event = from_kafka(record.key, record.value, record.headers)
        except MalformedEvent as exc:
            return await self._dead_letter(record, exc, attempts=0)
        return await self._handle_with_retries(record, event)

    async def _handle_with_retries(self, record: Record, event: CloudEvent) -> _Outcome:
        """Retry a failing handler up to ``retry_max_attempts``, then dead-letter the event.
        An effect another instance is doing (HeldElsewhere) is not a failure: the event is
        tried again after a backoff, without counting, for as long as the partition is ours."""
        max_attempts = self._settings.retry_max_attempts
        attempt = 1
        while True:
            try:
                await self._handle(event)
            except _NEVER_RETRIED as exc:
                return await self._dead_letter(record, exc, attempts=attempt, event=event)
            except HeldElsewhere as exc:
                self.held_elsewhere += 1
                log.info("event_id=%s waits: %s", event.id, exc)
                if record.partition not in self.ownership.partitions:
                    return _Outcome.STOPPED  # the partition's new owner reads it again
                if await self._sleep_unless_stopped(self._settings.backoff_seconds(1)):
                    return _Outcome.STOPPED
            except Exception as exc:
                if attempt == max_attempts:
                    return await self._dead_letter(record, exc, attempts=attempt, event=event)
                self.retried += 1
                delay = self._settings.backoff_seconds(attempt)
                log.warning(
                    "handler failed topic=%s partition=%d offset=%d event_id=%s event_type=%s"
                    " attempt=%d/%d retry_in=%.2fs error=%r",
                    *_where(record),
                    event.id,
                    event.type,
                    attempt,
                    max_attempts,
                    delay,
                    exc,
                )
                attempt += 1
                if await self._sleep_unless_stopped(delay):
                    return _Outcome.STOPPED
            else:
                self.handled += 1
                log.debug(
                    "handled topic=%s partition=%d offset=%d event_id=%s event_type=%s",
                    *_where(record),
                    event.id,
                    event.type,
                )
                return _Outcome.DONE

    async def _dead_letter(
        self,
        record: Record,
        error: BaseException,
        *,
        attempts: int,
        event: CloudEvent | None = None,
    ) -> _Outcome:
        letter = DeadLetter.of(
            record, error, attempts=attempts, group_id=self.group_id, event=event
        )
        try:
            await self._publisher.publish_raw(
                self._dead_letter_topic, letter.key, letter.value, letter.headers
            )
        except Exception:
            log.exception(
                "dead letter failed topic=%s partition=%d offset=%d; will redeliver",
                *_where(record),
            )
            return _Outcome.REDELIVER
        self.dead_lettered += 1
        log.error(
            "dead-lettered topic=%s partition=%d offset=%d event_id=%s event_type=%s"
            " attempts=%d error=%r",
            *_where(record),
            event.id if event else None,
            event.type if event else None,
            attempts,
            error,
        )
        await self._notify(letter)
        return _Outcome.DONE

    async def _notify(self, letter: DeadLetter) -> None:
        if self._on_dead_letter is None:
            return
        try:
            result = self._on_dead_letter(letter)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_dead_letter callback failed")

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            async with asyncio.timeout(self._settings.commit_timeout_ms / 1000):
                await consumer.commit(offsets)
        except (KafkaError, TimeoutError) as exc:
            # Not fatal: a later commit on these partitions covers it, or the records
            # are redelivered (at-least-once) to whoever owns the partitions next.
            where = ", ".join(
                f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in offsets.items()
            )
            if self._commit_failing is None:
                self._commit_failing = (time.monotonic(), exc)
                log.warning("commit failed %s: %r", where, exc)
            else:
                self._commit_failing = (self._commit_failing[0], exc)
            if isinstance(exc, TimeoutError | UnknownTopicOrPartitionError):
                self._rebuild = f"offset commit of {where} failed: {exc!r}"
            return
        if self._commit_failing is not None:
            log.info("consumer group=%s commits again", self.group_id)
            self._commit_failing = None
        self._progress_at = time.monotonic()

    async def _sleep_unless_stopped(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if stop() was called meanwhile."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Keeps the consumer's Ownership in step with the group's assignment."""

    def __init__(self, consumer: AIOKafkaConsumer, owner: EventConsumer) -> None:
        self._consumer = consumer
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._owner.unassigned(revoked)
        await self._owner.ownership.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        counts = [
            len(self._consumer.partitions_for_topic(topic) or ()) for topic in self._owner.topics
        ]
        if len(set(counts)) > 1:
            log.warning("topics %s differ in partition count %s", self._owner.topics, counts)
        self._owner.ownership.assigned(assigned, max(counts, default=0))
        self._owner.assigned()


class ConsumerStalled(Exception):
    """A consumer makes no progress (the health check's error)."""


class _OncePerEpisode(logging.Filter):
    """Lets one of aiokafka's "OffsetCommit failed" lines through per ``quiet`` seconds:
    it logs one every 100 ms while a commit retries (thousands per broker restart)."""

    def __init__(self, quiet: float = 60.0) -> None:
        super().__init__()
        self._quiet = quiet
        self._last = -quiet

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("OffsetCommit failed"):
            return True
        now = time.monotonic()
        if now - self._last < self._quiet:
            return False
        self._last = now
        return True


def _quiet_commit_errors() -> None:
    coordinator_log = logging.getLogger("aiokafka.consumer.group_coordinator")
    if not any(isinstance(f, _OncePerEpisode) for f in coordinator_log.filters):
        coordinator_log.addFilter(_OncePerEpisode())


def _where(record: Record) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


async def _leave_and_close(consumer: AIOKafkaConsumer) -> None:
    # Tansu numbers a group's first generation 0, and aiokafka only sends
    # LeaveGroup when generation > 0: without this, the next member of the
    # group waits a full session timeout (plus a rebalance) to be assigned.
    coordinator: Any = getattr(consumer, "_coordinator", None)
    if coordinator is not None and getattr(coordinator, "generation", None) == 0:
        coordinator.generation = 1
    await consumer.stop()

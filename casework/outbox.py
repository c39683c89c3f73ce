"""Outbox relay: publishes what a service stored with its writes, oldest first.

``run()`` drains everything pending at once (start-up reconciliation: what a previous
run stored but did not publish goes out now), then drains again on each ``wake()`` or
every ``poll_interval``. An entry is marked published only after ``publish`` returned for
it; a failing publish is retried with capped exponential backoff for as long as the relay
runs, and nothing after it is published before it. Delivery is at least once: a crash
between a publish and its mark publishes that entry again on the next start.

With ``publish_many`` a batch is pipelined: every record is handed to the producer in
order and the acknowledgements are awaited together, instead of one round trip per
record (the benchmark's recovery figure: about 10x faster). Only the prefix up to the
first failure is marked; records after a failure may already be out and are sent again
after it, so at-least-once holds, and per-key order holds unless the broker acknowledges
a later batch of a partition while failing an earlier one.

An entry the broker can never take (``is_poison``: too large, an invalid topic, not
encodable) would hold every later entry back for ever. After ``park_after`` failures in a
row such an entry is handed to ``park`` (the runtime stores it aside and puts a notice on
the service's dead-letter topic, which the monitor alerts on) and the relay goes on.
Transient errors (the broker is down) are never parked: they are retried.

Published entries stay in the store as history for ``retention_seconds`` (the relay
purges older ones). When the bus lost what it held (``casework.kafka.watch`` notices),
``request_replay`` makes the relay publish that whole history again, in ``seq`` order,
before it publishes anything pending: consumers are idempotent and absorb the repeats.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from casework.cloudevents import CloudEvent
from casework.store import DocumentStore, OutboxEntry

log = logging.getLogger(__name__)

Publish = Callable[[str, CloudEvent], Awaitable[None]]
# Sends every (topic, event) in order; one result per item: None, or the error it met.
PublishMany = Callable[[Sequence[tuple[str, CloudEvent]]], Awaitable[list[BaseException | None]]]
# Sets an unpublishable entry aside for good (store it elsewhere, raise an alert).
Park = Callable[[OutboxEntry, BaseException, int], Awaitable[None]]
T = TypeVar("T")


@dataclass
class _Replay:
    reason: str
    since: float  # window start (Unix seconds)
    after: int = 0  # seq published again so far
    count: int = 0
    started: float = field(default_factory=time.monotonic)


class _Stopped(Exception):
    """stop() was called while the relay waited on something."""


class _EntryFailed(Exception):
    def __init__(self, entry: OutboxEntry, error: BaseException) -> None:
        super().__init__(f"outbox entry {entry.seq} ({entry.event.type}): {error!r}")
        self.entry = entry
        self.error = error


def _never(_: BaseException) -> bool:
    return False


class OutboxRelay:
    def __init__(
        self,
        store: DocumentStore,
        publish: Publish,
        *,
        poll_interval: float = 1.0,
        batch: int = 100,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        publish_many: PublishMany | None = None,
        park: Park | None = None,
        is_poison: Callable[[BaseException], bool] = _never,
        park_after: int = 3,
        retention_seconds: float = 86_400.0,
        purge_interval: float = 60.0,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be >= 1")
        self._store = store
        self._publish = publish
        self._publish_many = publish_many
        self._poll_interval = poll_interval
        self._batch = batch
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._park = park
        self._is_poison = is_poison
        self._park_after = park_after
        self._retention = retention_seconds
        self._purge_interval = purge_interval
        self._purged_at = 0.0  # monotonic time of the last purge
        self._replay: _Replay | None = None
        self._failing: tuple[int, int] = (-1, 0)  # (seq, failures in a row) of one entry
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self.published = 0  # entries published and marked
        self.drains = 0  # drains that left nothing pending they had seen
        self.failures = 0  # failed drains (a publish or a store call raised)
        self.parked = 0  # unpublishable entries set aside
        self.replays = 0  # replays of the history finished
        self.replayed = 0  # entries published again by them
        self.last_error: BaseException | None = None

    def wake(self) -> None:
        """Drain now: call after a write that carried outbox messages."""
        self._wake.set()

    def request_replay(self, reason: str) -> None:
        """Publish every kept entry of the retention window again, oldest first, before
        anything pending (the bus lost data). A replay under way starts over."""
        self._replay = _Replay(reason, since=time.time() - self._retention)
        self._wake.set()

    @property
    def replaying(self) -> bool:
        return self._replay is not None

    def stop(self) -> None:
        """Make ``run()`` return promptly, abandoning (not marking) a publish in flight."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> None:
        delay = self._backoff_initial
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self._replay_history()
                await self._drain()
                await self._purge()
            except _Stopped:
                break
            except Exception as exc:
                if isinstance(exc, _EntryFailed) and await self._parked(exc):
                    continue
                self.failures += 1
                self.last_error = exc.error if isinstance(exc, _EntryFailed) else exc
                # Full jitter so that several relays retrying one broker do not stampede.
                wait = random.uniform(delay / 2, delay)
                log.warning("outbox drain failed (retry in %.2fs): %r", wait, exc)
                delay = min(delay * 2, self._backoff_max)
                await self._sleep(wait)
                continue
            self.drains += 1
            delay = self._backoff_initial
            await self._idle()

    async def _parked(self, failed: _EntryFailed) -> bool:
        """Count a failure of one entry; park it once it has failed often enough for good."""
        seq, count = self._failing
        count = count + 1 if seq == failed.entry.seq else 1
        self._failing = (failed.entry.seq, count)
        if self._park is None or not self._is_poison(failed.error) or count < self._park_after:
            return False
        log.error("outbox entry %s cannot be published; parked: %s", failed.entry.seq, failed)
        await self._park(failed.entry, failed.error, count)
        await self._store.mark_published([failed.entry], keep=False)  # never replayed
        self.parked += 1
        self._failing = (-1, 0)
        return True

    async def drain_once(self) -> int:
        """Publish everything pending now; return how many. A failure propagates, after
        marking what was already published."""
        before = self.published
        try:
            await self._drain()
        except _Stopped:
            pass
        except _EntryFailed as failed:
            raise failed.error from None
        return self.published - before

    async def _replay_history(self) -> None:
        """Publish the kept entries again, a page at a time, resuming after a failure."""
        while (replay := self._replay) is not None:
            entries = await self._until_stopped(
                self._store.published_outbox(replay.since, after=replay.after, limit=self._batch)
            )
            if not entries:
                self._replay = None
                self.replays += 1
                log.warning(
                    "bus replay done (%s): %d entries published again in %.1fs",
                    replay.reason,
                    replay.count,
                    time.monotonic() - replay.started,
                )
                return
            await self._publish_all(entries)
            self.replayed += len(entries)
            replay.after = entries[-1].seq  # a new request meanwhile replaced it: starts over
            replay.count += len(entries)

    async def _publish_all(self, entries: list[OutboxEntry]) -> None:
        if self._publish_many is not None:
            results = await self._until_stopped(
                self._publish_many([(entry.topic, entry.event) for entry in entries])
            )
            for error in results:
                if error is not None:
                    raise error
            return
        for entry in entries:
            await self._until_stopped(self._publish(entry.topic, entry.event))

    async def _purge(self) -> None:
        now = time.monotonic()
        if now - self._purged_at < self._purge_interval:
            return
        self._purged_at = now
        purged = await self._store.purge_published(time.time() - self._retention)
        if purged:
            log.info("outbox history: %d entries older than %.0fs purged", purged, self._retention)

    async def _drain(self) -> None:
        while True:
            entries = await self._until_stopped(self._store.pending_outbox(self._batch))
            if not entries:
                return
            done: list[OutboxEntry] = []
            try:
                if self._publish_many is not None:
                    await self._publish_pipelined(entries, done)
                else:
                    for entry in entries:
                        if self._stop.is_set():
                            raise _Stopped
                        try:
                            await self._until_stopped(self._publish(entry.topic, entry.event))
                        except (_Stopped, asyncio.CancelledError):
                            raise
                        except Exception as exc:
                            raise _EntryFailed(entry, exc) from exc
                        done.append(entry)
            finally:
                if done:
                    # Marked even when stopping or failing: these were acknowledged.
                    await self._store.mark_published(done)
                    self.published += len(done)
            if len(entries) < self._batch:
                return

    async def _publish_pipelined(self, entries: list[OutboxEntry], done: list[OutboxEntry]) -> None:
        assert self._publish_many is not None
        if self._stop.is_set():
            raise _Stopped
        results = await self._until_stopped(
            self._publish_many([(entry.topic, entry.event) for entry in entries])
        )
        for entry, error in zip(entries, results, strict=True):
            if error is not None:
                raise _EntryFailed(entry, error) from error
            done.append(entry)

    async def _until_stopped(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` unless stop() comes first: then cancel it, raise _Stopped."""
        task = asyncio.ensure_future(awaitable)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if task.cancelled():
            raise _Stopped
        return task.result()

    async def _idle(self) -> None:
        waits: set[asyncio.Future[Any]] = {
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self._stop.wait()),
        }
        try:
            await asyncio.wait(
                waits, timeout=self._poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waits:
                waiter.cancel()

    async def _sleep(self, seconds: float) -> None:
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({stopper}, timeout=seconds)
        finally:
            stopper.cancel()

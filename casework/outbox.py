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
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from casework.cloudevents import CloudEvent
from casework.store import DocumentStore, OutboxEntry

log = logging.getLogger(__name__)

Publish = Callable[[str, CloudEvent], Awaitable[None]]
# Sends every (topic, event) in order; one result per item: None, or the error it met.
PublishMany = Callable[[Sequence[tuple[str, CloudEvent]]], Awaitable[list[BaseException | None]]]
T = TypeVar("T")


class _Stopped(Exception):
    """stop() was called while the relay waited on something."""


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
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self.published = 0  # entries published and marked
        self.drains = 0  # drains that left nothing pending they had seen
        self.failures = 0  # failed drains (a publish or a store call raised)
        self.last_error: BaseException | None = None

    def wake(self) -> None:
        """Drain now: call after a write that carried outbox messages."""
        self._wake.set()

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
                await self._drain()
            except _Stopped:
                break
            except Exception as exc:
                self.failures += 1
                self.last_error = exc
                # Full jitter so that several relays retrying one broker do not stampede.
                wait = random.uniform(delay / 2, delay)
                log.warning("outbox drain failed (retry in %.2fs): %r", wait, exc)
                delay = min(delay * 2, self._backoff_max)
                await self._sleep(wait)
                continue
            self.drains += 1
            delay = self._backoff_initial
            await self._idle()

    async def drain_once(self) -> int:
        """Publish everything pending now; return how many. A failure propagates, after
        marking what was already published."""
        before = self.published
        try:
            await self._drain()
        except _Stopped:
            pass
        return self.published - before

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
                        await self._until_stopped(self._publish(entry.topic, entry.event))
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
                raise error
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

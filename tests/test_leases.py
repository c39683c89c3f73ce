"""Leases in the store (casework.leases) on every store backend: SQLite, MongoDB's wire
protocol on nx-27017, and a real MongoDB when MONGODB_URI is set."""

from __future__ import annotations

import asyncio

from casework.leases import LEASES, Lease, run_while_holding
from casework.store import DocumentStore
from tests.support import eventually, holds


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_one_holder_at_a_time_until_the_lease_expires(store: DocumentStore) -> None:
    clock = Clock()
    a = Lease(store, "duty:x", "a", 10, clock=clock)
    b = Lease(store, "duty:x", "b", 10, clock=clock)
    assert await a.acquire()
    assert not await b.acquire()
    clock.now += 9
    assert await a.acquire()  # renewed: good for 10 s from now
    clock.now += 9
    assert not await b.acquire()
    assert a.held
    clock.now += 1.5  # a stopped renewing (as if dead): its lease ran out
    assert not a.held
    assert await b.acquire()
    assert not await a.acquire()
    stored = await store.get(LEASES, "duty:x")
    assert stored is not None and stored["holder"] == "b"


async def test_release_hands_over_at_once(store: DocumentStore) -> None:
    clock = Clock()
    a = Lease(store, "outbox-relay", "a", 60, clock=clock)
    b = Lease(store, "outbox-relay", "b", 60, clock=clock)
    assert await a.acquire()
    await a.release()
    assert not a.held
    assert await b.acquire()
    await a.release()  # not held: must not take it from b
    assert not await a.acquire()


async def test_simultaneous_attempts_give_the_lease_to_exactly_one(store: DocumentStore) -> None:
    clock = Clock()
    contenders = [Lease(store, "duty:race", f"i{n}", 30, clock=clock) for n in range(8)]
    won = await asyncio.gather(*(lease.acquire() for lease in contenders))
    assert sum(won) == 1
    clock.now += 31  # expired: a second race among the others
    others = [lease for lease, w in zip(contenders, won, strict=True) if not w]
    won_again = await asyncio.gather(*(lease.acquire() for lease in others))
    assert sum(won_again) == 1


async def test_a_restarted_instance_takes_its_own_lease_back(store: DocumentStore) -> None:
    clock = Clock()
    before = Lease(store, "duty:y", "host:8082", 30, clock=clock)
    assert await before.acquire()
    after_restart = Lease(store, "duty:y", "host:8082", 30, clock=clock)
    assert await after_restart.acquire()
    assert not await Lease(store, "duty:y", "host:8083", 30, clock=clock).acquire()


async def test_duty_runs_on_one_instance_and_moves_when_its_holder_stops(
    store: DocumentStore,
) -> None:
    running: list[str] = []

    def duty(name: str) -> Lease:
        return Lease(store, "duty:scan", name, 0.6)

    async def work(name: str) -> None:
        running.append(name)
        await asyncio.Event().wait()

    a, b = duty("a"), duty("b")
    task_a = asyncio.create_task(run_while_holding(a, lambda: work("a")))
    await eventually(lambda: holds(running == ["a"]), what="a to start the duty")
    task_b = asyncio.create_task(run_while_holding(b, lambda: work("b")))
    try:
        # b keeps trying; while a renews (every 0.2 s), b never starts.
        await eventually(
            lambda: holds(b.refused >= 3 and a.renewed >= 3), what="b to be refused while a renews"
        )
        assert running == ["a"]
        assert not task_b.done()
        task_a.cancel()  # a stops: it releases, b takes over without waiting for expiry
        await asyncio.wait({task_a})
        await eventually(lambda: holds(running == ["a", "b"]), timeout=5, what="b to take over")
    finally:
        for task in (task_a, task_b):
            task.cancel()
        await asyncio.gather(task_a, task_b, return_exceptions=True)


async def test_a_holder_that_loses_its_lease_stops_its_duty(store: DocumentStore) -> None:
    cancelled = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    lease = Lease(store, "duty:watch", "a", 0.6)
    task = asyncio.create_task(run_while_holding(lease, work))
    try:
        await eventually(lambda: holds(lease.held), what="the lease to be taken")
        doc = await store.get(LEASES, "duty:watch")
        assert doc is not None
        # Another instance holds it now (as after a pause longer than the lease).
        await store.replace(
            LEASES,
            {"_id": "duty:watch", "holder": "b", "expires_at": 4e9, "since": 0.0},
            expected_version=doc["_version"],
        )
        await asyncio.wait_for(cancelled.wait(), timeout=5)
        assert not lease.held
        assert not task.done()  # it goes back to waiting for the lease
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    stored = await store.get(LEASES, "duty:watch")
    assert stored is not None and stored["holder"] == "b"  # not released: it was not a's


async def test_a_duty_that_fails_stops_the_holder_with_its_error(store: DocumentStore) -> None:
    async def broken() -> None:
        raise RuntimeError("duty broke")

    lease = Lease(store, "duty:broken", "a", 5)
    try:
        await asyncio.wait_for(run_while_holding(lease, broken), timeout=5)
    except RuntimeError as exc:
        assert str(exc) == "duty broke"
    else:
        raise AssertionError("the duty's error was swallowed")
    assert not lease.held  # released on the way out
    assert await Lease(store, "duty:broken", "b", 5).acquire()

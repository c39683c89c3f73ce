"""casework.periodic.every: beat, backoff after failures, metrics, cancellation."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from casework.periodic import every


class Beat:
    """An injected sleep that records each interval and stops the duty after ``passes``."""

    def __init__(self, stop_after: int) -> None:
        self.slept: list[float] = []
        self.stop_after = stop_after

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        if len(self.slept) >= self.stop_after:
            raise asyncio.CancelledError


async def test_a_duty_keeps_its_beat_and_backs_off_after_failures() -> None:
    outcomes = iter([None, "fail", "fail", "fail", "fail", None, None])
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        if next(outcomes) == "fail":
            raise RuntimeError("store down")

    registry = CollectorRegistry()
    beat = Beat(stop_after=7)
    duty = every("scan", 8.0, step, registry=registry, sleep=beat)
    with pytest.raises(asyncio.CancelledError):
        await duty()
    # good pass: 8; four failures: 1, 2, 4, 8 (capped); good again: 8, 8.
    assert beat.slept == [8.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert calls == 7
    assert registry.get_sample_value("duty_passes_total", {"duty": "scan"}) == 3
    assert registry.get_sample_value("duty_failures_total", {"duty": "scan"}) == 4
    last = registry.get_sample_value("duty_last_good_pass_timestamp_seconds", {"duty": "scan"})
    assert last is not None and last > 0


async def test_first_after_delays_the_first_pass() -> None:
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1

    beat = Beat(stop_after=2)
    with pytest.raises(asyncio.CancelledError):
        await every("purge", 30.0, step, first_after=5.0, sleep=beat)()
    assert beat.slept == [5.0, 30.0] and calls == 1


async def test_cancelling_stops_the_pass_in_flight() -> None:
    started, finished = asyncio.Event(), False

    async def step() -> None:
        nonlocal finished
        started.set()
        await asyncio.Event().wait()
        finished = True

    task = asyncio.create_task(every("slow", 1.0, step)())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not finished


def test_a_beat_must_be_positive() -> None:
    async def step() -> None:
        return None

    with pytest.raises(ValueError, match="seconds must be positive"):
        every("bad", 0, step)


async def test_each_registry_gets_its_own_metrics_even_after_another_is_gone() -> None:
    import gc

    async def step() -> None:
        return None

    for _ in range(20):  # new registries come to reuse collected ones' id()
        registry = CollectorRegistry()
        with pytest.raises(asyncio.CancelledError):
            await every("again", 1.0, step, registry=registry, sleep=Beat(stop_after=1))()
        assert registry.get_sample_value("duty_passes_total", {"duty": "again"}) == 1
        del registry
        gc.collect()

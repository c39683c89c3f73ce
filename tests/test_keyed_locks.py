"""KeyedLocks: one holder per key, keys independent, nothing kept once released."""

from __future__ import annotations

import asyncio

from casework.keyed_locks import KeyedLocks
from tests.fixtures.broker import wait_for


async def test_one_key_is_held_by_one_at_a_time_and_other_keys_go_on() -> None:
    locks = KeyedLocks()
    inside: list[str] = []
    release = asyncio.Event()

    async def work(key: str, name: str) -> None:
        async with locks.hold(key):
            inside.append(name)
            await release.wait()

    first = asyncio.create_task(work("case-1", "a"))
    second = asyncio.create_task(work("case-1", "b"))
    other = asyncio.create_task(work("case-2", "c"))
    await wait_for(lambda: len(inside) == 2, timeout_s=5, what="a and c inside")
    assert sorted(inside) == ["a", "c"]  # b waits for a
    assert len(locks) == 2
    release.set()
    await asyncio.wait_for(asyncio.gather(first, second, other), timeout=5)
    assert inside[-1] == "b"
    assert len(locks) == 0


async def test_a_failing_holder_releases_the_key() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("page"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with asyncio.timeout(1), locks.hold("page"):
        assert len(locks) == 1
    assert len(locks) == 0

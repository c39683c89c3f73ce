"""casework.coalesce: reads of one key asked together go as reads of many."""

from __future__ import annotations

import asyncio

import pytest

from casework.coalesce import Coalescer


class Source:
    """Answers each key with its double; a read of many that holds ``bad`` fails."""

    def __init__(self, bad: int | None = None) -> None:
        self.bad = bad
        self.reads: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.reading = asyncio.Event()

    async def many(self, keys: list[int]) -> dict[int, int]:
        self.reads.append(keys)
        self.reading.set()
        await self.gate.wait()
        if self.bad in keys:
            raise LookupError(self.bad)
        return {k: 2 * k for k in keys}

    async def one(self, key: int) -> int:
        self.reads.append([key])
        if key == self.bad:
            raise LookupError(key)
        return 2 * key


async def test_a_crowd_shares_reads_of_at_most_size_keys() -> None:
    source = Source()
    reader = Coalescer(source.many, source.one, size=10)
    assert await reader.get(1) == 2 and source.reads == [[1]]
    answers = await asyncio.gather(*(reader.get(k) for k in range(25)))
    assert answers == [2 * k for k in range(25)]
    assert [len(r) for r in source.reads[1:]] == [10, 10, 5]


async def test_a_failed_read_of_many_goes_again_key_by_key() -> None:
    source = Source(bad=3)
    reader = Coalescer(source.many, source.one, size=10)
    answers = await asyncio.gather(*(reader.get(k) for k in range(5)), return_exceptions=True)
    assert answers[:3] == [0, 2, 4] and answers[4] == 8
    assert isinstance(answers[3], LookupError)


async def test_a_cancelled_caller_leaves_the_others_their_answers() -> None:
    source = Source()
    source.gate.clear()
    reader = Coalescer(source.many, source.one, size=10)
    callers = [asyncio.create_task(reader.get(k)) for k in range(3)]
    await asyncio.wait_for(source.reading.wait(), timeout=10)
    callers[1].cancel()
    source.gate.set()
    assert await callers[0] == 0 and await callers[2] == 4
    with pytest.raises(asyncio.CancelledError):
        await callers[1]

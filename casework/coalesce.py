"""Reads of one key each, asked concurrently, made as reads of several keys at once.

While one read is on its way, the keys asked meanwhile wait and go together in the next
(up to ``size`` a read), so a lone caller waits for nothing and a crowd shares round trips;
one read of many at a time per reader. A read of many that fails is made again key by key,
so that each caller gets its own answer or its own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    def __init__(
        self,
        many: Callable[[list[K]], Awaitable[dict[K, V]]],
        one: Callable[[K], Awaitable[V]],
        size: int,
    ) -> None:
        self._many = many
        self._one = one
        self._size = size
        self._waiting: dict[K, list[asyncio.Future[V]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.reads = 0  # reads of many made (for tests and metrics)

    async def get(self, key: K) -> V:
        waiter: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(waiter)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())
        return await waiter

    async def _read(self) -> None:
        while self._waiting:
            keys = list(self._waiting)[: self._size]
            batch = {key: self._waiting.pop(key) for key in keys}
            try:
                self.reads += 1
                found = await self._many(keys)
            except Exception:
                await asyncio.gather(*(self._alone(key, waiters) for key, waiters in batch.items()))
                continue
            except BaseException:  # cancelled: nobody waits forever
                for waiters in [*batch.values(), *self._waiting.values()]:
                    for waiter in waiters:
                        waiter.cancel()
                self._waiting.clear()
                raise
            for key, waiters in batch.items():
                _resolve(waiters, found[key])

    async def _alone(self, key: K, waiters: list[asyncio.Future[V]]) -> None:
        try:
            value = await self._one(key)
        except Exception as exc:
            _settle(waiters, exc)
        else:
            _resolve(waiters, value)


def _resolve(waiters: list[asyncio.Future[V]], value: V) -> None:
    for waiter in waiters:
        if not waiter.done():  # done: its caller was cancelled
            waiter.set_result(value)


def _settle(waiters: list[asyncio.Future[V]], exc: BaseException) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(exc)

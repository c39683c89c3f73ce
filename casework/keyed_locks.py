"""One asyncio lock per key (a case, a wiki page), forgotten once nobody holds or awaits it.

Consumers handle different cases at once; what two cases share (a page on a wiki, the
same account) is then worked on one at a time within the process. A dict of locks that
were never dropped would grow with every case ever seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]

    def __len__(self) -> int:
        """Keys held or awaited now."""
        return len(self._locks)

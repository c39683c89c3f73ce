"""Fixed-window counters in the document store (rate limits, sign-in throttles).

One document per (scope, key, window), so counts survive a restart and are shared by every
instance of a service on the same store; keys are hashed, not stored. Writers racing on one
counter from several instances retry on the version conflict; writers in one process take
turns per counter, so that a burst from one client does not run out of retries (which
would be a false refusal).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from casework.store import DocumentStore, DuplicateDocument, VersionConflict

ATTEMPTS = 20


class Contended(Exception):
    """A counter changed under every one of ``ATTEMPTS`` tries: refuse, do not guess."""


@dataclass(frozen=True)
class Window:
    scope: str
    doc_id: str
    max: int
    ends: datetime

    def retry_after(self, now: datetime) -> float:
        """Seconds until this window ends."""
        return (self.ends - now).total_seconds()


def window_of(scope: str, key: str, *, max: int, per_seconds: int, now: datetime) -> Window:
    """The window of ``per_seconds`` that ``now`` falls in, for ``key`` in ``scope``."""
    index = int(now.timestamp() // per_seconds)
    digest = hashlib.sha256(f"{scope}:{key.casefold()}".encode()).hexdigest()[:32]
    ends = datetime.fromtimestamp((index + 1) * per_seconds, UTC)
    return Window(scope, f"{scope}-{digest}-{index}", max, ends)


class WindowCounters:
    def __init__(self, store: DocumentStore, collection: str, field: str = "count") -> None:
        self.store = store
        self.collection = collection
        self.field = field
        self._locks: dict[str, asyncio.Lock] = {}

    async def value(self, window: Window) -> int:
        stored = await self.store.get(self.collection, window.doc_id)
        return 0 if stored is None else int(stored[self.field])

    async def full(self, window: Window) -> bool:
        return await self.value(window) >= window.max

    async def increment(self, window: Window, on_create: Mapping[str, Any] = {}) -> None:
        """Count one more in ``window``; ``on_create`` fields go on a new counter document.
        Raises Contended when the counter kept changing under every try."""
        lock = self._locks.setdefault(window.doc_id, asyncio.Lock())
        async with lock:
            await self._increment(window, on_create)
        if not lock.locked() and len(self._locks) > 10_000:
            self._locks.clear()  # old windows' counters; a fresh lock is as good

    async def _increment(self, window: Window, on_create: Mapping[str, Any]) -> None:
        for _ in range(ATTEMPTS):
            stored = await self.store.get(self.collection, window.doc_id)
            try:
                if stored is None:
                    await self.store.insert(
                        self.collection, {"_id": window.doc_id, self.field: 1, **on_create}
                    )
                else:
                    stored[self.field] += 1
                    await self.store.replace(
                        self.collection, stored, expected_version=stored["_version"]
                    )
                return
            except (DuplicateDocument, VersionConflict):
                continue
        raise Contended(window.doc_id)

"""Per-sender and per-client limits on accepted submissions, counted in the store.

Fixed windows: one counter document per (scope, key, window), so counts survive a
restart and are shared by every intake instance on the same store. Two instances
racing on one counter retry on the version conflict; keys are hashed, not stored.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime

from casework.policy.intake import Limit, RateLimits
from casework.store import DocumentStore, DuplicateDocument, VersionConflict

COUNTERS = "rate_limits"


class RateLimited(Exception):
    """Over a limit: try again after ``retry_after`` seconds."""

    def __init__(self, scope: str, retry_after: float) -> None:
        super().__init__(f"too many submissions from this {scope}; retry after {retry_after:.0f}s")
        self.scope = scope
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Counter:
    scope: str
    doc_id: str
    limit: Limit
    retry_after: float


def _counter(scope: str, key: str, limit: Limit, now: datetime) -> _Counter:
    seconds = now.timestamp()
    window = int(seconds // limit.per_seconds)
    digest = hashlib.sha256(f"{scope}:{key.lower()}".encode()).hexdigest()[:32]
    ends = (window + 1) * limit.per_seconds
    return _Counter(scope, f"{scope}-{digest}-{window}", limit, ends - seconds)


class RateLimiter:
    def __init__(self, store: DocumentStore, limits: RateLimits) -> None:
        self.store = store
        self.limits = limits
        # One writer per counter in this process: concurrent requests from one client
        # otherwise collide on the counter's version and run out of retries (a false 429).
        # The optimistic retry below still settles races between instances.
        self._locks: dict[str, asyncio.Lock] = {}

    async def consume(self, *, sender: str | None, client: str | None, now: datetime) -> None:
        """Count one submission against each given key, or raise RateLimited counting none."""
        counters = []
        if sender:
            counters.append(_counter("sender", sender, self.limits.per_sender, now))
        if client:
            counters.append(_counter("client", client, self.limits.per_client, now))
        for counter in counters:
            stored = await self.store.get(COUNTERS, counter.doc_id)
            if stored is not None and stored["count"] >= counter.limit.max:
                raise RateLimited(counter.scope, counter.retry_after)
        for counter in counters:
            await self._increment(counter)

    async def _increment(self, counter: _Counter) -> None:
        lock = self._locks.setdefault(counter.doc_id, asyncio.Lock())
        async with lock:
            await self._increment_stored(counter)
        if not lock.locked() and len(self._locks) > 10_000:
            self._locks.clear()  # old windows' counters; a fresh lock is as good

    async def _increment_stored(self, counter: _Counter) -> None:
        for _ in range(20):
            stored = await self.store.get(COUNTERS, counter.doc_id)
            try:
                if stored is None:
                    await self.store.insert(COUNTERS, {"_id": counter.doc_id, "count": 1})
                else:
                    stored["count"] += 1
                    await self.store.replace(COUNTERS, stored, expected_version=stored["_version"])
                return
            except (DuplicateDocument, VersionConflict):
                continue
        raise RateLimited(counter.scope, 1.0)

"""Fixed-window counters in the document store (rate limits, sign-in throttles).

One document per (scope, key, window), so counts survive a restart and are shared by every
instance of a service on the same store; keys are hashed, not stored. Writers racing on one
counter from several instances retry on the version conflict; writers in one process take
turns per counter, so that a burst from one client does not run out of retries (which
would be a false refusal).

``take`` counts in groups: the calls that arrive for one counter while its previous write is
on its way are written together, one document write for all of them (group commit), and
each learns whether it got a place under the limit. A hot counter (every request from one
proxy) then costs one write per group, not one per request.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from casework.store import Document, DocumentStore, DuplicateDocument, VersionConflict

ATTEMPTS = 20
_FORGET_AFTER = 10_000  # counters remembered per process; old windows' are dropped wholesale


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


@dataclass
class _Group:
    """The ``take`` calls waiting for one write of a counter."""

    waiters: list[asyncio.Future[bool]] = field(default_factory=list)


class WindowCounters:
    def __init__(self, store: DocumentStore, collection: str, field: str = "count") -> None:
        self.store = store
        self.collection = collection
        self.field = field
        self._locks: dict[str, asyncio.Lock] = {}
        self._open: dict[str, _Group] = {}
        self._writing: set[asyncio.Task[None]] = set()
        # The counter documents as this process last wrote or read them: the next write
        # tries their version without reading first, and one never seen is first tried as
        # new (a conflict or a duplicate reads it).
        self._known: dict[str, Document] = {}

    async def value(self, window: Window) -> int:
        stored = await self.store.get(self.collection, window.doc_id)
        return 0 if stored is None else int(stored[self.field])

    async def full(self, window: Window) -> bool:
        return await self.value(window) >= window.max

    async def seems_full(self, window: Window) -> bool:
        """Whether the counter is full; without reading when this process last saw it below
        its limit, or never saw it (``take`` settles those without a false refusal)."""
        known = self._known.get(window.doc_id)
        if known is None or int(known[self.field]) < window.max:
            return False
        return await self.full(window)

    async def take(self, window: Window) -> bool:
        """Count one more in ``window`` if it is below its ``max``: True when counted, False
        (nothing counted) when full. Raises Contended when the counter kept changing."""
        group = self._open.get(window.doc_id)
        if group is None:
            group = self._open[window.doc_id] = _Group()
            leader = True
        else:
            leader = False
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        group.waiters.append(waiter)
        if leader:  # a task of its own: the group is written even if this call is cancelled
            task = asyncio.create_task(self._write_group(window, group))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)
        return await waiter

    async def give_back(self, window: Window) -> None:
        """Uncount one ``take`` (its submission was refused by another limit)."""
        async with self._lock(window.doc_id):
            await self._add(window, -1, None)

    async def increment(self, window: Window, on_create: Mapping[str, Any] = {}) -> None:
        """Count one more in ``window``, whatever its ``max``; ``on_create`` fields go on a
        new counter document. Raises Contended when the counter kept changing under every try."""
        async with self._lock(window.doc_id):
            await self._add(window, 1, on_create)

    def _lock(self, doc_id: str) -> asyncio.Lock:
        if len(self._locks) > _FORGET_AFTER:
            self._locks = {k: lock for k, lock in self._locks.items() if lock.locked()}
            self._known.clear()
        return self._locks.setdefault(doc_id, asyncio.Lock())

    async def _write_group(self, window: Window, group: _Group) -> None:
        async with self._lock(window.doc_id):
            # Closed now: later calls form the next group, written after this one.
            if self._open.get(window.doc_id) is group:
                del self._open[window.doc_id]
            try:
                granted = await self._add(window, len(group.waiters), None, up_to=window.max)
            except Exception as exc:  # every waiter learns it: none was counted
                for waiter in group.waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                return
            for place, waiter in enumerate(group.waiters):
                if not waiter.done():  # a cancelled caller's place stays counted
                    waiter.set_result(place < granted)

    async def _add(
        self,
        window: Window,
        wanted: int,
        on_create: Mapping[str, Any] | None,
        *,
        up_to: int | None = None,
    ) -> int:
        """Add ``wanted`` (at most what keeps the count at or under ``up_to``) to the
        counter; how many were added. The caller holds the counter's lock."""
        doc_id = window.doc_id
        stored: Document | None = self._known.get(doc_id)
        for attempt in range(ATTEMPTS):
            if attempt:
                stored = await self.store.get(self.collection, doc_id)
            current = 0 if stored is None else int(stored[self.field])
            adding = wanted if up_to is None else max(0, min(wanted, up_to - current))
            adding = max(adding, -current)  # never below zero
            if adding == 0:
                if not attempt:  # nothing to add by what this process saw: read to be sure
                    continue
                if stored is not None:
                    self._known[doc_id] = stored
                return 0
            try:
                if stored is None:
                    written = await self.store.insert(
                        self.collection,
                        {"_id": doc_id, self.field: adding, **(on_create or {})},
                    )
                else:
                    changed = {**stored, self.field: current + adding}
                    written = await self.store.replace(
                        self.collection, changed, expected_version=stored["_version"]
                    )
            except (DuplicateDocument, VersionConflict):
                continue
            self._known[doc_id] = written
            return adding
        self._known.pop(doc_id, None)
        raise Contended(doc_id)

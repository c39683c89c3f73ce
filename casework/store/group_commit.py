"""Group commit for one SQLite writer connection.

Concurrent writes queue up; one flusher task takes what is queued (at most
``max_group``), runs it on the writer's own thread in one call (one thread hop) as one
``BEGIN IMMEDIATE`` … ``COMMIT`` (one fsync), each logical write inside its own
``SAVEPOINT``. A write that raises rolls back to its savepoint, so only its own effects
are undone and only its own caller sees the error; the others commit. Every caller's
future is resolved only after its group's ``COMMIT`` returned, so a write that returned
is as durable as the connection's ``synchronous`` setting makes a single commit.

No write waits for company: a write to an idle writer starts a group of one at once;
writes arriving while a group is on the thread form the next group. Groups run in queue
order and logical writes in queue order within a group, so an AUTOINCREMENT key (the
outbox ``seq``) follows the commit order of the logical writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

from casework.store import StoreError

T = TypeVar("T")
Write = Callable[[sqlite3.Connection], Any]

MAX_GROUP = 256  # logical writes per physical transaction


@dataclass
class _Queued:
    write: Write
    future: asyncio.Future[Any]


@dataclass
class _Outcome:
    ok: bool
    value: Any  # the write's result, or the exception for its caller


class GroupCommitter:
    """Owns ``conn`` and the single thread that uses it."""

    def __init__(
        self, conn: sqlite3.Connection, executor: ThreadPoolExecutor, *, max_group: int = MAX_GROUP
    ) -> None:
        if max_group < 1:
            raise ValueError("max_group must be >= 1")
        self._conn = conn
        self._executor = executor
        self._max_group = max_group
        self._queue: deque[_Queued] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.commits = 0  # physical transactions committed
        self.writes = 0  # logical writes committed in them

    @classmethod
    async def connect(cls, path: str, *, max_group: int = MAX_GROUP) -> GroupCommitter:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, _connect, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(conn, executor, max_group=max_group)

    async def write(self, write: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``write`` inside a group's transaction; its result once the group committed.

        Exceptions it raises reach this caller only (its savepoint rolled back); a
        ``sqlite3.Error`` becomes ``StoreError``. A group that cannot commit fails every
        write in it with ``StoreError``."""
        if self._closed:
            raise StoreError("sqlite store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append(_Queued(write, future))
        flusher = self._flusher
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush())
        return await future

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the writer thread outside any group (set-up, pragmas, the reads
        of an in-memory database): it runs between two groups, never inside one."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, self._conn)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc

    async def close(self) -> None:
        """Commit what is queued, then close the connection and its thread."""
        if self._closed:
            return
        self._closed = True
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            if flusher.get_loop() is asyncio.get_running_loop():
                await asyncio.shield(flusher)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._conn.close)
        finally:
            self._executor.shutdown(wait=True)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            group: list[_Queued] = []
            while self._queue and len(group) < self._max_group:
                queued = self._queue.popleft()
                if not queued.future.cancelled():  # its caller gave up before it started
                    group.append(queued)
            if not group:
                continue
            writes = [queued.write for queued in group]
            try:
                outcomes = await loop.run_in_executor(self._executor, self._commit, writes)
            except BaseException as exc:
                # Cancelled (loop shutting down) or a bug: the group's outcome is unknown.
                for queued in group:
                    if not queued.future.done():
                        error = StoreError(f"sqlite: group interrupted ({exc!r})")
                        queued.future.set_exception(error)
                raise
            for queued, outcome in zip(group, outcomes, strict=True):
                if queued.future.done():
                    continue
                if outcome.ok:
                    queued.future.set_result(outcome.value)
                else:
                    queued.future.set_exception(outcome.value)

    def _commit(self, writes: list[Write]) -> list[_Outcome]:
        """On the writer thread: the whole group, one transaction."""
        conn = self._conn
        outcomes: list[_Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for write in writes:
                conn.execute("SAVEPOINT write")
                try:
                    value = write(conn)
                except Exception as exc:
                    if not conn.in_transaction:
                        raise _Lost(exc) from exc  # SQLite rolled the whole group back
                    conn.execute("ROLLBACK TO write")
                    conn.execute("RELEASE write")
                    outcomes.append(_Outcome(False, _for_caller(exc)))
                else:
                    conn.execute("RELEASE write")
                    outcomes.append(_Outcome(True, value))
            conn.execute("COMMIT")
        except (sqlite3.Error, _Lost) as exc:
            cause = exc.cause if isinstance(exc, _Lost) else exc
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            # Nothing of this group is stored: every write in it fails; one that had
            # failed on its own keeps its own error.
            kept = [o if not o.ok else _Outcome(False, _group_failed(cause)) for o in outcomes]
            rest = [_Outcome(False, _group_failed(cause)) for _ in writes[len(outcomes) :]]
            return kept + rest
        except BaseException:
            # Not an outcome to hand out (e.g. KeyboardInterrupt): the connection must not
            # stay inside the transaction, and nothing of the group is stored.
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        self.commits += 1
        self.writes += sum(1 for outcome in outcomes if outcome.ok)
        return outcomes


class _Lost(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _for_caller(exc: Exception) -> Exception:
    if isinstance(exc, sqlite3.Error):
        error = StoreError(f"sqlite: {exc}")
        error.__cause__ = exc
        return error
    return exc


def _group_failed(cause: BaseException) -> StoreError:
    error = StoreError(f"sqlite: transaction not committed ({cause})")
    error.__cause__ = cause
    return error


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: no implicit BEGIN; the committer issues its own.
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)

"""The SQLite store's primary-key lookups run on the event loop's thread: they see every
committed write at once, and a lock held by another connection sends them to the reader
thread (which waits for it) instead of failing or blocking the loop."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from casework.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(str(tmp_path / "store.sqlite3"))
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_lookup_sees_each_committed_write_at_once(store: SqliteStore) -> None:
    await store.insert("cases", {"_id": "c1", "state": "open"})
    for n in range(20):
        current = await store.get("cases", "c1")
        assert current is not None
        await store.replace("cases", {**current, "n": n}, expected_version=current["_version"])
        again = await store.get("cases", "c1")
        assert again is not None and again["n"] == n
    assert await store.get("cases", "absent") is None


class _BusyOnce(sqlite3.Connection):
    """Answers SQLITE_BUSY once, as a WAL reader may meet it while another connection
    recovers the WAL (not reproducible on demand, so injected here)."""

    busy = 1

    def execute(self, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
        if self.busy:
            self.busy -= 1
            raise sqlite3.OperationalError("database is locked")
        return super().execute(*args)  # type: ignore[arg-type]


async def test_a_lookup_that_meets_a_lock_is_read_on_the_reader_thread(
    store: SqliteStore, tmp_path: Path
) -> None:
    await store.insert("cases", {"_id": "c1", "state": "open"})
    busy = sqlite3.connect(str(tmp_path / "store.sqlite3"), factory=_BusyOnce)
    store._point_reader.close()  # type: ignore[union-attr]
    store._point_reader = busy
    found = await store.get("cases", "c1")
    assert found is not None and found["state"] == "open"
    assert busy.busy == 0  # the lookup did meet the lock
    assert await store.get("cases", "c1") == found  # and the next one reads in place

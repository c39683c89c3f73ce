"""Group commit in the SQLite adapter: writes that arrive together share one transaction
(and its fsync), each keeps its own outcome, and nothing a caller was told is stored is
lost when the process is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from casework.cloudevents import CloudEvent
from casework.store import (
    DuplicateDocument,
    OutboxEntry,
    OutboxMessage,
    StoreError,
    VersionConflict,
)
from casework.store.group_commit import GroupCommitter
from casework.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent


def message(n: int) -> OutboxMessage:
    event = CloudEvent(type="case.changed", source="tests", subject=f"s{n}", data={"n": n})
    return OutboxMessage(topic="cases.events", event=event)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(str(tmp_path / "store.sqlite3"))
    try:
        yield opened
    finally:
        await opened.close()


class Gate:
    """A write that holds the writer thread until opened: whatever is queued meanwhile
    waits for the next group."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, conn: sqlite3.Connection) -> str:
        self.entered.set()
        if not self.opened.wait(30):
            raise TimeoutError("gate never opened")
        return "gate"

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 30), "the gate write never started"


@pytest.fixture
async def committer(tmp_path: Path) -> AsyncIterator[GroupCommitter]:
    opened = await GroupCommitter.connect(str(tmp_path / "raw.sqlite3"), max_group=4)
    await opened.call(lambda conn: conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    try:
        yield opened
    finally:
        await opened.close()


def put(key: str) -> Callable[[sqlite3.Connection], str]:
    def write(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t (k) VALUES (?)", (key,))
        return key

    return write


async def keys(committer: GroupCommitter) -> list[str]:
    rows = await committer.call(lambda conn: conn.execute("SELECT k FROM t ORDER BY k").fetchall())
    return [str(k) for (k,) in rows]


async def test_concurrent_writes_share_a_commit(store: SqliteStore) -> None:
    await store.insert("cases", {"_id": "first"})
    assert store.group_commits == (1, 1)  # a lone write is a group of one, at once
    await asyncio.gather(
        *(store.insert("cases", {"_id": f"c{n}"}, [message(n)]) for n in range(64))
    )
    commits, writes = store.group_commits
    assert writes == 65
    assert commits <= 4, f"64 concurrent writes took {commits - 1} commits"
    assert len(await store.find("cases")) == 65
    assert len(await store.pending_outbox(limit=100)) == 64


async def test_outbox_seq_order_is_the_order_callers_were_answered(store: SqliteStore) -> None:
    answered: list[int] = []

    async def write(n: int) -> None:
        await store.insert("cases", {"_id": f"c{n}"}, [message(n)])
        answered.append(n)

    for wave in range(4):
        await asyncio.gather(*(write(100 * wave + n) for n in range(50)))
    pending = await store.pending_outbox(limit=1000)
    assert [e.event.data["n"] for e in pending] == answered
    assert store.group_commits[0] < len(answered)


async def test_a_failing_write_rolls_back_only_itself_in_its_group(store: SqliteStore) -> None:
    await store.insert("cases", {"_id": "old", "v": 0})
    await store.restore("moved", [{"_id": "m0", "_version": 3}], [entry(50, "moved", "m0")])
    before = store.group_commits
    results = await asyncio.gather(
        store.insert("cases", {"_id": "a"}, [message(1)]),
        # Writes two documents, then fails on the outbox seq 50 already stored.
        store.restore(
            "moved",
            [{"_id": "m1", "_version": 1}, {"_id": "m2", "_version": 1}],
            [entry(51, "moved", "m1"), entry(50, "moved", "m2")],
        ),
        store.insert("cases", {"_id": "old"}, [message(2)]),
        store.replace("cases", {"_id": "old", "v": 9}, expected_version=5, outbox=[message(3)]),
        # A collection created by a write that fails is rolled back with it.
        store.restore("born", [{"_id": "x", "_version": 1}], [entry(50, "born", "x")]),
        store.insert("cases", {"_id": "b"}, [message(4)]),
        return_exceptions=True,
    )
    assert store.group_commits == (before[0] + 1, before[1] + 2), "not one group"
    assert isinstance(results[0], dict)
    assert type(results[1]) is StoreError
    assert type(results[2]) is DuplicateDocument
    assert type(results[3]) is VersionConflict
    assert type(results[4]) is StoreError
    assert isinstance(results[5], dict)
    assert [d["_id"] for d in await store.find("cases")] == ["a", "b", "old"]
    assert [d["_id"] for d in await store.find("moved")] == ["m0"]
    assert await store.collections() == ["cases", "moved"]
    pending = await store.pending_outbox()
    assert [(e.doc_id, e.event.data["n"]) for e in pending] == [("m0", 50), ("a", 1), ("b", 4)]
    await store.insert("born", {"_id": "later"})  # the table is made again, now for good
    assert await store.collections() == ["born", "cases", "moved"]


def entry(seq: int, collection: str, doc_id: str) -> OutboxEntry:
    return OutboxEntry(collection, doc_id, "cases.events", message(seq).event, seq)


async def test_writes_arriving_during_a_commit_form_the_next_groups(
    committer: GroupCommitter,
) -> None:
    gate = Gate()
    held = asyncio.create_task(committer.write(gate))
    await gate.wait_entered()
    queued = [asyncio.create_task(committer.write(put(f"k{n}"))) for n in range(10)]
    await asyncio.sleep(0)  # wait-ok: one turn of the loop, so each task queues its write
    assert not any(task.done() for task in queued)  # they wait: the writer thread is taken
    gate.opened.set()
    assert await held == "gate"
    assert await asyncio.gather(*queued) == [f"k{n}" for n in range(10)]
    # The gate alone, then the ten in groups of at most max_group=4.
    assert (committer.commits, committer.writes) == (1 + 3, 11)
    assert await keys(committer) == sorted(f"k{n}" for n in range(10))


async def test_a_write_cancelled_before_its_group_started_is_not_written(
    committer: GroupCommitter,
) -> None:
    gate = Gate()
    held = asyncio.create_task(committer.write(gate))
    await gate.wait_entered()
    dropped = asyncio.create_task(committer.write(put("dropped")))
    kept = asyncio.create_task(committer.write(put("kept")))
    await asyncio.sleep(0)  # wait-ok: one turn of the loop, so both tasks queue their write
    dropped.cancel()
    gate.opened.set()
    await held
    assert await kept == "kept"
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert await keys(committer) == ["kept"]


async def test_a_group_that_cannot_commit_fails_every_write_in_it(
    committer: GroupCommitter,
) -> None:
    gate = Gate()
    held = asyncio.create_task(committer.write(gate))
    await gate.wait_entered()

    def end_the_transaction(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")  # as SQLite does itself on e.g. a full disk or I/O error

    group = [
        asyncio.create_task(committer.write(put("a"))),
        asyncio.create_task(committer.write(end_the_transaction)),
        asyncio.create_task(committer.write(put("b"))),
    ]
    await asyncio.sleep(0)  # wait-ok: one turn of the loop, so each task queues its write
    gate.opened.set()
    await held
    results = await asyncio.gather(*group, return_exceptions=True)
    assert all(type(r) is StoreError for r in results), results
    assert await keys(committer) == []
    assert await committer.write(put("c")) == "c"  # the connection is usable again
    assert await keys(committer) == ["c"]


async def test_close_commits_the_writes_already_queued(tmp_path: Path) -> None:
    path = str(tmp_path / "closing.sqlite3")
    store = await SqliteStore.open(path)
    writes = [
        asyncio.create_task(store.insert("cases", {"_id": f"c{n}"}, [message(n)]))
        for n in range(20)
    ]
    await asyncio.sleep(0)  # wait-ok: one turn of the loop, so each task queues its write
    await store.close()
    assert all(isinstance(doc, dict) for doc in await asyncio.gather(*writes))
    with pytest.raises(StoreError, match="closed"):
        await store.insert("cases", {"_id": "late"})
    again = await SqliteStore.open(path)
    try:
        assert len(await again.find("cases")) == 20
    finally:
        await again.close()


async def test_an_in_memory_store_groups_writes_and_reads_between_groups() -> None:
    store = await SqliteStore.open(":memory:")
    try:
        await store.insert("cases", {"_id": "c", "n": 0})

        async def bump(n: int) -> None:
            while True:
                doc = await store.get("cases", "c")
                assert doc is not None
                try:
                    await store.replace(
                        "cases", {"_id": "c", "n": doc["n"] + 1}, expected_version=doc["_version"]
                    )
                    return
                except VersionConflict:
                    continue

        await asyncio.gather(*(bump(n) for n in range(20)))
        assert await store.get("cases", "c") == {"_id": "c", "_version": 21, "n": 20}
    finally:
        await store.close()


CHILD = """
import asyncio, itertools, sys
from casework.cloudevents import CloudEvent
from casework.store import OutboxMessage
from casework.store.sqlite import SqliteStore

async def main(path: str) -> None:
    store = await SqliteStore.open(path)
    numbers = itertools.count()

    async def writer() -> None:
        while True:
            n = next(numbers)
            event = CloudEvent(type="t.acked", source="crash", subject=str(n), data={"n": n})
            await store.insert("acked", {"_id": f"w{n}"}, [OutboxMessage("t", event)])
            sys.stdout.write(f"{n}\\n")
            sys.stdout.flush()

    await asyncio.gather(*(writer() for _ in range(32)))

asyncio.run(main(sys.argv[1]))
"""
ACKS_BEFORE_KILL = 400
CHILD_DEADLINE = 120.0


async def test_sigkill_mid_group_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = str(tmp_path / "killed.sqlite3")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        path,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    acked: set[int] = set()
    deadline = time.monotonic() + CHILD_DEADLINE
    try:
        while len(acked) < ACKS_BEFORE_KILL:
            line = await asyncio.wait_for(
                child.stdout.readline(), timeout=max(0.1, deadline - time.monotonic())
            )
            if not line:
                _, err = await child.communicate()
                pytest.fail(f"the writer exited early: {err.decode()[-2000:]}")
            acked.add(int(line))
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
    rest, _ = await asyncio.wait_for(child.communicate(), timeout=30)
    acked |= {int(line) for line in rest.split()}  # acknowledged before the kill too
    assert child.returncode == -signal.SIGKILL

    store = await SqliteStore.open(path)
    try:
        stored = {int(doc["_id"][1:]) for doc in await store.find("acked")}
        outbox = await store.pending_outbox(limit=len(stored) + 10)
    finally:
        await store.close()
    assert acked <= stored, f"lost acknowledged writes: {sorted(acked - stored)[:10]}"
    # Atomic with its outbox entry: a stored document has it, and only those do.
    assert sorted(e.event.data["n"] for e in outbox) == sorted(stored)
    assert [e.seq for e in outbox] == sorted(e.seq for e in outbox)

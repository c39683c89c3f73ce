"""One contract for every DocumentStore adapter (sqlite, nx-27017, real MongoDB)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from casework.cloudevents import CloudEvent
from casework.store import (
    DocumentStore,
    DuplicateDocument,
    OutboxEntry,
    OutboxMessage,
    OutboxPending,
    StoreError,
    VersionConflict,
    open_store,
)
from casework.store.sqlite import SqliteStore
from tests.fixtures.stores import reopen
from tests.support import free_port

RICH: dict[str, Any] = {
    "_id": "case-1",
    "title": "Überprüfung – 审查 ✓",
    "status": "open",
    "count": 3,
    "ratio": 0.25,
    "flag": True,
    "off": False,
    "nothing": None,
    "tags": ["a", "b", "ç"],
    "owner": {"team": "intake", "person": {"name": "Zoë", "ids": [1, 2, 3]}},
    "history": [{"at": "2026-01-01T00:00:00+00:00", "ok": True}, {"at": None, "n": [[]]}],
    "empty": {},
    "none": [],
}


def message(n: int, topic: str = "cases.events") -> OutboxMessage:
    event = CloudEvent(
        type="case.changed", source="tests", subject=f"case-{n}", data={"n": n, "ok": True}
    )
    return OutboxMessage(topic=topic, event=event)


def visible_keys(doc: dict[str, Any]) -> set[str]:
    return {k for k in doc if k.startswith("_")}


def summary(entries: list[OutboxEntry]) -> list[tuple[str, str, str, int]]:
    return [(e.collection, e.doc_id, e.topic, e.event.data["n"]) for e in entries]


async def test_insert_get_roundtrip(store: DocumentStore) -> None:
    inserted = await store.insert("cases", dict(RICH))
    assert inserted == {**RICH, "_version": 1}
    assert await store.get("cases", "case-1") == {**RICH, "_version": 1}
    assert await store.get("cases", "missing") is None
    assert await store.get("never_written", "case-1") is None


async def test_insert_does_not_mutate_its_argument(store: DocumentStore) -> None:
    doc = {"_id": "d", "a": 1}
    await store.insert("cases", doc)
    assert doc == {"_id": "d", "a": 1}


async def test_insert_rejects_reserved_and_non_json_fields(store: DocumentStore) -> None:
    with pytest.raises(ValueError):
        await store.insert("cases", {"_id": "x", "_outbox": []})
    with pytest.raises(ValueError):
        await store.insert("cases", {"_id": "x", "when": object()})
    with pytest.raises(ValueError):
        await store.insert("cases", {"title": "no id"})
    with pytest.raises(ValueError):
        await store.insert("bad name", {"_id": "x"})
    assert await store.find("cases") == []


async def test_duplicate_insert_raises_and_changes_nothing(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "c", "v": "first"}, [message(1)])
    with pytest.raises(DuplicateDocument):
        await store.insert("cases", {"_id": "c", "v": "second"}, [message(2)])
    assert await store.get("cases", "c") == {"_id": "c", "_version": 1, "v": "first"}
    assert summary(await store.pending_outbox()) == [("cases", "c", "cases.events", 1)]


async def test_replace_with_right_version_bumps_it(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "c", "keep": 1, "drop": 2})
    replaced = await store.replace(
        "cases", {"_id": "c", "keep": 10, "new": {"x": [1]}}, expected_version=1
    )
    assert replaced == {"_id": "c", "_version": 2, "keep": 10, "new": {"x": [1]}}
    assert await store.get("cases", "c") == replaced
    again = await store.replace("cases", {**replaced, "keep": 11}, expected_version=2)
    assert again["_version"] == 3
    assert await store.get("cases", "c") == {
        "_id": "c",
        "_version": 3,
        "keep": 11,
        "new": {"x": [1]},
    }


async def test_stale_replace_conflicts_and_changes_nothing(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "c", "v": 1})
    await store.replace("cases", {"_id": "c", "v": 2}, expected_version=1, outbox=[message(1)])
    with pytest.raises(VersionConflict):
        await store.replace("cases", {"_id": "c", "v": 3}, expected_version=1, outbox=[message(2)])
    with pytest.raises(VersionConflict):
        await store.replace("cases", {"_id": "c", "v": 3}, expected_version=3, outbox=[message(3)])
    with pytest.raises(VersionConflict):
        await store.replace("cases", {"_id": "nope", "v": 1}, expected_version=1)
    with pytest.raises(VersionConflict):
        await store.replace("never_written", {"_id": "c"}, expected_version=1)
    assert await store.get("cases", "c") == {"_id": "c", "_version": 2, "v": 2}
    assert await store.get("cases", "nope") is None
    assert summary(await store.pending_outbox()) == [("cases", "c", "cases.events", 1)]


async def _seed_find(docs: DocumentStore) -> None:
    rows = [
        ("a", "open", "intake", 3, True),
        ("b", "closed", "review", 1, False),
        ("c", "open", "review", 2, True),
        ("d", "open", "intake", 2, 1),
        ("e", "closed", None, 5, "yes"),
    ]
    for doc_id, status, team, priority, flag in rows:
        owner: dict[str, Any] = {"team": team} if team else {}
        doc = {
            "_id": doc_id,
            "status": status,
            "owner": owner,
            "priority": priority,
            "flag": flag,
        }
        await docs.insert("cases", doc)
    await docs.insert("others", {"_id": "z", "status": "open"})


async def test_find_by_equality_and_dotted_fields(store: DocumentStore) -> None:
    await _seed_find(store)

    async def ids(where: dict[str, Any]) -> list[str]:
        return [d["_id"] for d in await store.find("cases", where)]

    assert await ids({}) == ["a", "b", "c", "d", "e"]
    assert await ids({"status": "open"}) == ["a", "c", "d"]
    assert await ids({"owner.team": "review"}) == ["b", "c"]
    assert await ids({"status": "open", "owner.team": "intake"}) == ["a", "d"]
    assert await ids({"owner.team": None}) == ["e"]
    assert await ids({"flag": True}) == ["a", "c"]
    assert await ids({"flag": 1}) == ["d"]
    assert await ids({"priority": 2}) == ["c", "d"]
    assert await ids({"priority": 2.0}) == ["c", "d"]
    assert await ids({"owner": "intake"}) == []
    assert await ids({"_id": "b"}) == ["b"]
    assert await ids({"_version": 1}) == ["a", "b", "c", "d", "e"]
    assert await ids({"_version": True}) == []
    assert await ids({"_id": 1}) == []
    assert await ids({"_id": None}) == []
    assert await store.find("never_written", {"status": "open"}) == []
    with pytest.raises(TypeError):
        await store.find("cases", {"owner": {"team": "intake"}})


async def test_find_order_and_limit(store: DocumentStore) -> None:
    await _seed_find(store)

    async def ids(**kwargs: Any) -> list[str]:
        return [d["_id"] for d in await store.find("cases", **kwargs)]

    # Ties (c, d at priority 2) always break by _id ascending.
    assert await ids(order_by="priority") == ["b", "c", "d", "a", "e"]
    assert await ids(order_by="priority", descending=True) == ["e", "a", "c", "d", "b"]
    assert await ids(order_by="priority", limit=2) == ["b", "c"]
    assert await ids(where={"status": "open"}, order_by="priority", limit=2) == ["c", "d"]
    assert await ids(order_by="_id", descending=True, limit=3) == ["e", "d", "c"]
    assert await ids(limit=0) == []
    full = await store.find("cases", {"_id": "a"})
    assert full == [{"_id": "a", "_version": 1, "status": "open", "owner": {"team": "intake"},
                     "priority": 3, "flag": True}]  # fmt: skip


async def test_ensure_index_is_idempotent(store: DocumentStore) -> None:
    await store.ensure_index("indexed", "status")
    await store.ensure_index("indexed", "owner.team")
    await store.insert("indexed", {"_id": "x", "status": "open", "owner": {"team": "t"}})
    await store.ensure_index("indexed", "status")
    await store.ensure_index("indexed", "owner.team")
    await store.ensure_index("indexed", "_id")
    assert [d["_id"] for d in await store.find("indexed", {"owner.team": "t"})] == ["x"]
    with pytest.raises(ValueError):
        await store.ensure_index("indexed", "bad field!")


async def test_outbox_entries_follow_their_writes_in_order(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "c1"}, [message(1), message(2, "cases.audit")])
    await store.insert("notices", {"_id": "n1"}, [message(3, "notices.events")])
    await store.insert("cases", {"_id": "c2"})
    await store.replace("cases", {"_id": "c1", "s": 1}, expected_version=1, outbox=[message(4)])
    await store.replace("notices", {"_id": "n1"}, expected_version=1, outbox=[message(5)])

    pending = await store.pending_outbox()
    assert summary(pending) == [
        ("cases", "c1", "cases.events", 1),
        ("cases", "c1", "cases.audit", 2),
        ("notices", "n1", "notices.events", 3),
        ("cases", "c1", "cases.events", 4),
        ("notices", "n1", "cases.events", 5),
    ]
    assert [e.seq for e in pending] == sorted({e.seq for e in pending})
    assert summary(await store.pending_outbox(limit=2)) == summary(pending)[:2]


async def test_outbox_event_roundtrips_exactly(store: DocumentStore) -> None:
    sent = message(7)
    await store.insert("cases", {"_id": "c"}, [sent])
    [entry] = await store.pending_outbox()
    assert entry.event == sent.event
    assert entry.topic == sent.topic


async def test_mark_published_removes_entries_without_bumping_version(
    store: DocumentStore,
) -> None:
    await store.insert("cases", {"_id": "c", "v": 1}, [message(1), message(2)])
    await store.insert("notices", {"_id": "n"}, [message(3)])
    first_two = (await store.pending_outbox())[:2]
    await store.mark_published(first_two)
    assert summary(await store.pending_outbox()) == [("notices", "n", "cases.events", 3)]
    assert await store.get("cases", "c") == {"_id": "c", "_version": 1, "v": 1}

    # The old expected version is still right: publishing is not a change of the document.
    await store.replace("cases", {"_id": "c", "v": 2}, expected_version=1, outbox=[message(4)])
    await store.mark_published(first_two)  # idempotent
    await store.mark_published([])
    rest = await store.pending_outbox()
    assert summary(rest) == [("notices", "n", "cases.events", 3), ("cases", "c", "cases.events", 4)]
    await store.mark_published(rest)
    assert await store.pending_outbox() == []
    assert await store.get("cases", "c") == {"_id": "c", "_version": 2, "v": 2}


async def test_published_entries_are_kept_as_history_until_purged(
    store: DocumentStore,
) -> None:
    await store.insert("cases", {"_id": "c"}, [message(1), message(2)])
    await store.insert("notices", {"_id": "n"}, [message(3)])
    assert await store.published_outbox(0) == []
    before = time.time()
    pending = await store.pending_outbox()
    await store.mark_published(pending[:2])
    kept = await store.published_outbox(before - 1)
    assert summary(kept) == summary(pending[:2])
    assert [e.event for e in kept] == [e.event for e in pending[:2]]
    assert [e.seq for e in kept] == [e.seq for e in pending[:2]]
    assert summary(await store.pending_outbox()) == [("notices", "n", "cases.events", 3)]
    # Paging by seq, and a window that starts after they were published.
    assert summary(await store.published_outbox(0, after=kept[0].seq)) == summary(kept[1:])
    assert summary(await store.published_outbox(0, limit=1)) == summary(kept[:1])
    assert await store.published_outbox(time.time() + 60) == []
    await store.mark_published(pending[:2])  # idempotent: kept once
    assert len(await store.published_outbox(0)) == 2
    # A kept entry no longer holds its document back.
    await store.mark_published(pending[2:])
    assert await store.delete("notices", "n") is True
    assert len(await store.published_outbox(0)) == 3
    assert await store.purge_published(before - 60) == 0
    assert await store.purge_published(time.time() + 1) == 3
    assert await store.published_outbox(0) == []
    assert await store.pending_outbox() == []


async def test_mark_published_without_keeping_drops_the_entry(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "c"}, [message(1), message(2)])
    first, second = await store.pending_outbox()
    await store.mark_published([first], keep=False)
    await store.mark_published([second])
    assert summary(await store.published_outbox(0)) == summary([second])
    assert await store.pending_outbox() == []


async def test_sqlite_outbox_made_before_history_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL,"
            " doc_id TEXT NOT NULL, topic TEXT NOT NULL, event TEXT NOT NULL)"
        )
    docs = await SqliteStore.open(str(path))
    try:
        await docs.insert("cases", {"_id": "c"}, [message(1)])
        await docs.mark_published(await docs.pending_outbox())
        assert summary(await docs.published_outbox(0)) == [("cases", "c", "cases.events", 1)]
    finally:
        await docs.close()


async def test_internal_fields_never_leak(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "c", "v": 1}, [message(1)])
    await store.replace("cases", {"_id": "c", "v": 2}, expected_version=1, outbox=[message(2)])
    for doc in [await store.get("cases", "c"), *(await store.find("cases", {"v": 2}))]:
        assert doc is not None
        assert visible_keys(doc) == {"_id", "_version"}
    await store.mark_published((await store.pending_outbox())[:1])
    for doc in [await store.get("cases", "c"), *(await store.find("cases"))]:
        assert doc is not None
        assert visible_keys(doc) == {"_id", "_version"}


async def test_concurrent_replaces_exactly_one_wins(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "c", "winner": None})
    for version in range(1, 6):
        results = await asyncio.gather(
            *(
                store.replace(
                    "cases",
                    {"_id": "c", "winner": n},
                    expected_version=version,
                    outbox=[message(100 * version + n)],
                )
                for n in range(4)
            ),
            return_exceptions=True,
        )
        winners = [r for r in results if isinstance(r, dict)]
        assert len(winners) == 1, results
        assert all(isinstance(r, VersionConflict) for r in results if not isinstance(r, dict))
        assert winners[0]["_version"] == version + 1
        assert await store.get("cases", "c") == winners[0]
    pending = await store.pending_outbox()
    assert len(pending) == 5  # one message per round: the winner's


async def test_mark_published_races_a_replace_without_losing_either(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "c", "v": 0}, [message(0)])
    for version in range(1, 6):
        published = await store.pending_outbox()
        await asyncio.gather(
            store.mark_published(published),
            store.replace(
                "cases",
                {"_id": "c", "v": version},
                expected_version=version,
                outbox=[message(version)],
            ),
        )
        assert summary(await store.pending_outbox()) == [("cases", "c", "cases.events", version)]
        assert await store.get("cases", "c") == {"_id": "c", "_version": version + 1, "v": version}


async def test_data_survives_close_and_reopen(store: DocumentStore) -> None:
    await store.insert("cases", dict(RICH), [message(1)])
    await store.replace("cases", {**RICH, "status": "closed"}, expected_version=1)
    await store.ensure_index("cases", "status")
    await store.close()
    again = await reopen(store)
    try:
        assert await again.get("cases", "case-1") == {**RICH, "status": "closed", "_version": 2}
        assert summary(await again.pending_outbox()) == [("cases", "case-1", "cases.events", 1)]
        assert [d["_id"] for d in await again.find("cases", {"status": "closed"})] == ["case-1"]
        await again.ping()
    finally:
        await again.close()


async def test_ping(store: DocumentStore) -> None:
    await store.ping()


async def test_open_store_rejects_bad_urls() -> None:
    with pytest.raises(StoreError, match=re.escape("mongodb://127.0.0.1:1/")):
        await open_store("mongodb://127.0.0.1:1/")
    with pytest.raises(StoreError, match="names no database"):
        await open_store("mongodb://127.0.0.1:1")
    with pytest.raises(StoreError, match=r"\*\*\*"):
        await open_store("mongodb://user:secret@127.0.0.1:1")
    with pytest.raises(StoreError, match="unknown scheme"):
        await open_store("postgres://x/y")
    with pytest.raises(StoreError, match="absolute"):
        await open_store("sqlite://relative.sqlite3")
    with pytest.raises(StoreError, match="synchronous"):
        await open_store("sqlite:///tmp/x.sqlite3?synchronous=SOMETIMES")


async def test_ping_raises_when_the_backend_is_unreachable(tmp_path: Path) -> None:
    mongo = await open_store(f"mongodb://127.0.0.1:{free_port()}/db?serverSelectionTimeoutMS=200")
    try:
        with pytest.raises(StoreError):
            await mongo.ping()
    finally:
        await mongo.close()
    sqlite = await open_store(f"sqlite://{tmp_path / 'x.sqlite3'}")
    await sqlite.ping()
    await sqlite.close()
    with pytest.raises(StoreError):
        await sqlite.ping()


async def test_sqlite_in_memory_and_durability_setting(tmp_path: Path) -> None:
    memory = await open_store("sqlite:///:memory:")
    try:
        await memory.insert("cases", {"_id": "m"}, [message(1)])
        assert await memory.get("cases", "m") == {"_id": "m", "_version": 1}
        assert len(await memory.pending_outbox()) == 1
    finally:
        await memory.close()
    for query, expected in (("", 2), ("?synchronous=normal", 1)):
        opened = await SqliteStore.open_url(f"sqlite://{tmp_path / 'd.sqlite3'}{query}")
        try:
            assert await opened.pragma("synchronous") == expected
            assert await opened.pragma("journal_mode") == "wal"
        finally:
            await opened.close()


async def test_delete_removes_a_document(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "c", "v": 1})
    await store.insert("cases", {"_id": "d", "v": 1})
    assert await store.delete("cases", "c") is True
    assert await store.get("cases", "c") is None
    assert [d["_id"] for d in await store.find("cases")] == ["d"]
    assert await store.delete("cases", "c") is False
    assert await store.delete("cases", "never") is False
    assert await store.delete("never_written", "c") is False
    # The id is free again, and starts over at version 1.
    assert (await store.insert("cases", {"_id": "c", "v": 2}))["_version"] == 1
    with pytest.raises(ValueError):
        await store.delete("bad name", "c")


async def test_delete_with_a_stale_version_conflicts_and_keeps_it(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "c", "v": 1})
    await store.replace("cases", {"_id": "c", "v": 2}, expected_version=1)
    with pytest.raises(VersionConflict):
        await store.delete("cases", "c", expected_version=1)
    assert await store.get("cases", "c") == {"_id": "c", "_version": 2, "v": 2}
    assert await store.delete("cases", "c", expected_version=2) is True
    assert await store.delete("cases", "c", expected_version=2) is False


async def test_delete_refuses_while_outbox_messages_are_pending(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "c"}, [message(1)])
    await store.insert("cases", {"_id": "quiet"})
    await store.replace("cases", {"_id": "c", "v": 2}, expected_version=1, outbox=[message(2)])
    with pytest.raises(OutboxPending):
        await store.delete("cases", "c")
    with pytest.raises(OutboxPending):
        await store.delete("cases", "c", expected_version=2)
    assert await store.get("cases", "c") == {"_id": "c", "_version": 2, "v": 2}
    assert summary(await store.pending_outbox()) == [
        ("cases", "c", "cases.events", 1),
        ("cases", "c", "cases.events", 2),
    ]
    assert await store.delete("cases", "quiet") is True  # other documents are not held up

    await store.mark_published((await store.pending_outbox())[:1])
    with pytest.raises(OutboxPending):
        await store.delete("cases", "c")
    await store.mark_published(await store.pending_outbox())
    assert await store.delete("cases", "c", expected_version=2) is True
    assert await store.get("cases", "c") is None
    assert await store.pending_outbox() == []


async def test_collections_lists_those_holding_documents(store: DocumentStore) -> None:
    assert await store.collections() == []
    await store.insert("notices", {"_id": "n"}, [message(1)])
    await store.insert("cases", {"_id": "c"})
    await store.ensure_index("indexed_only", "status")
    await store.insert("emptied", {"_id": "e"})
    await store.delete("emptied", "e")
    assert await store.collections() == ["cases", "notices"]


def entry(n: int, collection: str, doc_id: str, seq: int) -> OutboxEntry:
    sent = message(n)
    return OutboxEntry(collection, doc_id, sent.topic, sent.event, seq)


async def test_restore_keeps_versions_and_outbox_order(store: DocumentStore) -> None:
    cases = [{**RICH, "_version": 7}, {"_id": "case-2", "_version": 1, "n": [1, {"a": None}]}]
    notices = [{"_id": "n-1", "_version": 3, "text": "Уведомление"}]
    first, second, third = (
        entry(1, "cases", "case-1", 10),
        entry(2, "notices", "n-1", 20),
        entry(3, "cases", "case-2", 30),
    )
    await store.restore("cases", cases, [third, first])
    await store.restore("notices", notices, [second])
    assert await store.get("cases", "case-1") == {**RICH, "_version": 7}
    assert await store.find("cases", order_by="_id") == cases
    assert await store.get("notices", "n-1") == notices[0]
    pending = await store.pending_outbox()
    assert pending == [first, second, third]
    # Restored documents are ordinary ones afterwards; new messages sort after the old.
    await store.replace("cases", {"_id": "case-2", "n": 2}, expected_version=1, outbox=[message(4)])
    assert summary(await store.pending_outbox())[-1] == ("cases", "case-2", "cases.events", 4)
    assert (await store.pending_outbox())[-1].seq > 30
    with pytest.raises(OutboxPending):
        await store.delete("notices", "n-1")
    await store.mark_published(pending)
    assert summary(await store.pending_outbox()) == [("cases", "case-2", "cases.events", 4)]
    assert await store.delete("notices", "n-1", expected_version=3) is True
    assert await store.collections() == ["cases"]


async def test_restore_refuses_bad_input_and_existing_ids(store: DocumentStore) -> None:
    await store.insert("cases", {"_id": "taken", "v": 1})
    with pytest.raises(DuplicateDocument, match="cases/taken"):
        await store.restore("cases", [{"_id": "taken", "_version": 4}, {"_id": "x", "_version": 1}])
    for docs, outbox in (
        ([{"_id": "x", "_version": 0}], []),
        ([{"_id": "x"}], []),
        ([{"_id": "x", "_version": True}], []),
        ([{"_id": "x", "_version": 1, "_outbox": []}], []),
        ([{"_id": "x", "_version": 1}, {"_id": "x", "_version": 2}], []),
        ([{"_id": "x", "_version": 1}], [entry(1, "cases", "other", 5)]),
        ([{"_id": "x", "_version": 1}], [entry(1, "notices", "x", 5)]),
        ([{"_id": "x", "_version": 1}], [entry(1, "cases", "x", 5), entry(2, "cases", "x", 5)]),
    ):
        with pytest.raises(ValueError):
            await store.restore("cases", docs, outbox)
    assert await store.find("cases") == [{"_id": "taken", "_version": 1, "v": 1}]
    assert await store.pending_outbox() == []


async def test_sqlite_snapshot_reads_one_state_and_tells_of_other_writers(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    exporter = await SqliteStore.open(str(path))
    writer = await SqliteStore.open(str(path))
    try:
        await writer.insert("cases", {"_id": "a"}, [message(1)])
        async with exporter.snapshot() as quiet:
            assert [d["_id"] for d in await exporter.find("cases")] == ["a"]
        assert quiet.changed is False

        async with exporter.snapshot() as busy:
            assert [d["_id"] for d in await exporter.find("cases")] == ["a"]
            await writer.insert("cases", {"_id": "b"}, [message(2)])
            assert [d["_id"] for d in await exporter.find("cases")] == ["a"]
            assert summary(await exporter.pending_outbox()) == [("cases", "a", "cases.events", 1)]
        assert busy.changed is True
        assert [d["_id"] for d in await exporter.find("cases")] == ["a", "b"]
    finally:
        await exporter.close()
        await writer.close()


async def test_sqlite_instances_opening_one_new_file_at_once_all_start(tmp_path: Path) -> None:
    """Several instances of a service starting together on one new file: switching it to
    WAL needs a moment alone, which busy_timeout does not wait for (before: 'database is
    locked' in about one round of fifteen)."""
    for round_ in range(30):
        path = str(tmp_path / f"shared-{round_}.sqlite3")
        opened = await asyncio.gather(
            *(SqliteStore.open(path) for _ in range(6)), return_exceptions=True
        )
        stores = [s for s in opened if isinstance(s, SqliteStore)]
        try:
            assert len(stores) == 6, [e for e in opened if not isinstance(e, SqliteStore)]
            assert str(await stores[0].pragma("journal_mode")).lower() == "wal"
        finally:
            for store in stores:
                await store.close()


async def test_update_document_writes_nothing_for_a_change_that_changes_nothing(
    store: DocumentStore,
) -> None:
    from casework.updates import update_document

    await store.insert("cases", {"_id": "c1", "state": "open"})
    same = await update_document(store, "cases", "c1", lambda d: (dict(d), []))
    assert same["_version"] == 1
    changed = await update_document(store, "cases", "c1", lambda d: ({**d, "state": "x"}, []))
    assert changed["_version"] == 2
    event = CloudEvent(type="t.v1", source="tests", subject="c1", data={})
    announced = await update_document(
        store, "cases", "c1", lambda d: (dict(d), [OutboxMessage("topic", event)])
    )
    assert announced["_version"] == 3  # an event to publish is a change
    assert [e.event.id for e in await store.pending_outbox()] == [event.id]


async def test_concurrent_writes_each_caller_gets_exactly_its_own_outcome(
    store: DocumentStore,
) -> None:
    for n in range(20):
        await store.insert("cases", {"_id": f"d{n}", "v": 0})
    expected: dict[str, type[Exception] | None] = {}
    calls: dict[str, Any] = {}
    for n in range(30):
        calls[f"insert-new-{n}"] = store.insert("cases", {"_id": f"n{n}"}, [message(n)])
        expected[f"insert-new-{n}"] = None
    for n in range(5):
        calls[f"insert-dup-{n}"] = store.insert("cases", {"_id": f"d{n}"}, [message(100 + n)])
        expected[f"insert-dup-{n}"] = DuplicateDocument
    for n in range(5, 15):
        doc = {"_id": f"d{n}", "v": 1}
        calls[f"replace-ok-{n}"] = store.replace(
            "cases", doc, expected_version=1, outbox=[message(200 + n)]
        )
        expected[f"replace-ok-{n}"] = None
    for n in range(15, 20):
        doc = {"_id": f"d{n}", "v": 9}
        calls[f"replace-stale-{n}"] = store.replace(
            "cases", doc, expected_version=7, outbox=[message(300 + n)]
        )
        expected[f"replace-stale-{n}"] = VersionConflict
    for n in range(3):
        calls[f"invalid-{n}"] = store.insert("cases", {"_id": f"bad{n}", "_secret": 1})
        expected[f"invalid-{n}"] = ValueError
    names = list(calls)
    results = dict(
        zip(names, await asyncio.gather(*calls.values(), return_exceptions=True), strict=True)
    )

    for name, result in results.items():
        kind = expected[name]
        if kind is None:
            assert isinstance(result, dict), (name, result)
        else:
            assert type(result) is kind, (name, result)
    for n in range(30):
        assert await store.get("cases", f"n{n}") == {"_id": f"n{n}", "_version": 1}
    for n in range(20):
        stored = await store.get("cases", f"d{n}")
        assert stored == (
            {"_id": f"d{n}", "_version": 2, "v": 1}
            if 5 <= n < 15
            else {"_id": f"d{n}", "_version": 1, "v": 0}
        )
    assert await store.get("cases", "bad0") is None
    sent = sorted(e.event.data["n"] for e in await store.pending_outbox(limit=1000))
    assert sent == [*range(30), *range(205, 215)]


async def test_outbox_seq_follows_the_order_writes_returned_in(store: DocumentStore) -> None:
    """Each of many concurrent chains writes its next step only after the previous one
    returned: a step's outbox entry always has a higher seq than every step it saw
    returned before it started, its own chain's and the others'."""
    returned: list[tuple[int, int]] = []
    started_after: dict[tuple[int, int], int] = {}

    async def chain(k: int) -> None:
        for step in range(5):
            started_after[(k, step)] = len(returned)
            if step == 0:
                await store.insert("chains", {"_id": f"c{k}"}, [message(100 * k)])
            else:
                doc = {"_id": f"c{k}", "step": step}
                await store.replace(
                    "chains", doc, expected_version=step, outbox=[message(100 * k + step)]
                )
            returned.append((k, step))

    await asyncio.gather(*(chain(k) for k in range(16)))
    pending = await store.pending_outbox(limit=1000)
    seq_of = {divmod(e.event.data["n"], 100): e.seq for e in pending}
    assert len(seq_of) == 16 * 5
    for write, seen in started_after.items():
        for before in returned[:seen]:
            assert seq_of[before] < seq_of[write], (before, write)


async def test_mark_published_of_many_documents_races_their_replaces(store: DocumentStore) -> None:
    """The relay marks a batch across many documents while their writers replace them:
    each entry leaves the pending outbox once, and every new message stays pending."""
    ids = [f"r{n}" for n in range(20)]
    for n, doc_id in enumerate(ids):
        await store.insert("cases", {"_id": doc_id, "v": 0}, [message(n)])

    async def mark_after(reads: int, batch: list[OutboxEntry]) -> None:
        for _ in range(reads):  # lands the marking at another point of the replaces
            await store.get("cases", ids[0])
        await store.mark_published(batch)

    rounds = 6
    for version in range(1, rounds + 1):
        batch = await store.pending_outbox(limit=1000)
        assert len(batch) == len(ids)
        await asyncio.gather(
            mark_after(version - 1, batch),
            *(
                store.replace(
                    "cases",
                    {"_id": doc_id, "v": version},
                    expected_version=version,
                    outbox=[message(100 * version + n)],
                )
                for n, doc_id in enumerate(ids)
            ),
        )
        pending = await store.pending_outbox(limit=1000)
        assert sorted(e.event.data["n"] for e in pending) == [
            100 * version + n for n in range(len(ids))
        ]
    kept = await store.published_outbox(0.0, limit=1000)
    assert sorted(e.event.data["n"] for e in kept) == sorted(
        [*range(20), *(100 * v + n for v in range(1, rounds) for n in range(20))]
    )

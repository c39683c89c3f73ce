"""Moving stores from the embedded SQLite files to MongoDB (and back): export, import,
verification, refusals.

Real parts: SQLite files, and for MongoDB the nx-27017 server (the MongoDB wire protocol
over SQLite, driven by the real pymongo driver): MongoDB itself cannot be installed on
this machine. The command line runs as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from casework.cloudevents import CloudEvent
from casework.contract import Channel, SubmissionKind
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.store import Document, DocumentStore, OutboxMessage, open_store
from casework.store.dump import read_plan
from casework.store.transfer import (
    TransferError,
    copy_store,
    export_store,
    import_dump,
    service_urls,
    verify,
)
from services.intake.domain.rules import Rules
from services.intake.entrypoints.examples import examples
from services.intake.policy import rules_of
from services.intake.usecases import IncomingAttachment, Submissions
from services.review.usecases import CASES, INDEXES
from tests.fixtures.stores import Nx27017, start_nx27017

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")


@pytest.fixture
def nx(tmp_path: Path) -> Iterator[Nx27017]:
    """A server of this test's own: the import-all test writes the databases
    ``casework_<service>``, which other modules' tests use on the shared server."""
    server = start_nx27017(tmp_path / "nx")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def mongo(nx: Nx27017) -> AsyncIterator[tuple[str, DocumentStore]]:
    url = nx.database_url(f"cw_transfer_{uuid.uuid4().hex[:8]}")
    store = await open_store(url)
    try:
        yield url, store
    finally:
        await store.close()


def event(n: int, subject: str) -> OutboxMessage:
    data = {"n": n, "note": "ре́шение ✓", "nested": {"list": [1, 2.5, None, True]}}
    return OutboxMessage("review.events", CloudEvent("case.changed", "tests", subject, data))


def case_doc(n: int) -> Document:
    return {
        "_id": f"OA-2026-{n:04d}",
        "state": ("open", "in_review", "decided")[n % 3],
        "action_type": ("global_ban", "event_ban")[n % 2],
        "assignee": None if n % 4 == 0 else f"staff-{n % 3}",
        "language": ("en", "ru", "de")[n % 3],
        "urgency": n % 5,
        "opened_at": f"2026-03-{1 + n % 28:02d}T10:00:00+00:00",
        "alert_at": None,
        "subject": {"account": f"Юзер{n}", "wikis": ["enwiki", "ruwiki"], "score": n / 7},
        "history": [{"at": "2026-03-01T10:00:00+00:00", "by": "Zoë", "ok": n % 2 == 0}],
    }


async def fill_review(store: DocumentStore, cases: int = 23) -> None:
    """Cases shaped like review's, under review's real indexes, some replaced several
    times, pending outbox messages interleaved with another collection's."""
    for fields in INDEXES:
        await store.ensure_index(CASES, *fields)
    for n in range(cases):
        await store.insert(CASES, case_doc(n), [event(n, f"OA-2026-{n:04d}")] if n % 3 else [])
        if n % 5 == 0:
            await store.insert("case_reads", {"_id": f"read-{n}", "case_id": case_doc(n)["_id"]})
    for n in range(0, cases, 2):
        doc = {**case_doc(n), "state": "decided", "decision": {"terms": {"days": n}}}
        await store.replace(CASES, doc, expected_version=1, outbox=[event(100 + n, doc["_id"])])
        await store.replace(CASES, {**doc, "closed": True}, expected_version=2)
    await store.insert("sessions", {"_id": "s" * 64, "staff_id": "staff-1", "ended_at": None})
    published = (await store.pending_outbox(limit=4))[:4]
    await store.mark_published(published)


async def fill_intake(store: DocumentStore) -> None:
    """Real submissions through intake's use cases; the relay never runs, so each one's
    event stays pending in the outbox."""
    relay = OutboxRelay(store, publish=_never_published)
    submissions = Submissions(
        store, relay, Rules(POLICY, rules_of(POLICY), frozenset({"127.0.0.1"}))
    )
    await submissions.prepare()
    for kind, payload in examples("http://127.0.0.1:8090").items():
        await submissions.submit(kind, payload, channel=Channel.API, idempotency_key=kind.value)
    pdf = IncomingAttachment("proof.pdf", "application/pdf", b"%PDF-1.4 proof")
    await submissions.submit(
        SubmissionKind.CHILD_PROTECTION_REPORT,
        {"summary": "An account is asking a child for their address."},
        channel=Channel.EMAIL,
        idempotency_key="<m1@mail.example.org>",
        sender="worried@example.org",
        message_id="<m1@mail.example.org>",
        attachments=[pdf],
    )


async def _never_published(topic: str, sent: CloudEvent) -> None:
    raise AssertionError("the relay does not run in these tests")


async def fill_notify(store: DocumentStore) -> None:
    for n in range(7):
        await store.insert(
            "deliveries",
            {"_id": f"d-{n}", "case_id": f"OA-2026-{n:04d}", "to": "ü@example.org", "tries": n},
            [event(200 + n, f"OA-2026-{n:04d}")],
        )
    await store.mark_published((await store.pending_outbox(limit=3))[:3])


async def fill_store(url: str, fill: Callable[[DocumentStore], Awaitable[None]]) -> None:
    store = await open_store(url)
    try:
        await fill(store)
    finally:
        await store.close()


async def contents(url: str) -> dict[str, Any]:
    """Everything a store holds, to compare two stores."""
    store = await open_store(url)
    try:
        return {
            "collections": {
                c: await store.find(c, order_by="_id") for c in await store.collections()
            },
            "outbox": await store.pending_outbox(limit=10_000),
        }
    finally:
        await store.close()


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "casework.store.transfer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


async def test_sqlite_to_mongo_and_back_keeps_documents_versions_and_outbox(
    tmp_path: Path, mongo: tuple[str, DocumentStore]
) -> None:
    source = f"sqlite://{tmp_path / 'review.sqlite3'}"
    await fill_store(source, fill_review)
    before = await contents(source)
    assert set(before["collections"]) == {"case_reads", "cases", "sessions"}
    assert {d["_version"] for d in before["collections"]["cases"]} == {1, 3}
    assert len(before["outbox"]) > 10

    dump = tmp_path / "review.jsonl"
    exported = await export_store(source, dump, batch=4)  # several pages per collection
    assert exported.counts == {"case_reads": 5, "cases": 23, "sessions": 1}
    assert exported.outbox == len(before["outbox"])

    target_url, target = mongo
    imported = await import_dump(dump, target_url, batch=5)
    assert imported == exported
    after = await contents(target_url)
    assert after == before  # documents, versions, outbox entries (seq, topic, CloudEvent)

    # The services' start-up indexes build on the imported data, and queries agree.
    for fields in INDEXES:
        await target.ensure_index(CASES, *fields)
    source_store = await open_store(source)
    try:
        query: dict[str, Any] = {"state": "decided"}
        assert await target.find(CASES, query, order_by="urgency", limit=5) == (
            await source_store.find(CASES, query, order_by="urgency", limit=5)
        )
    finally:
        await source_store.close()

    # Writing goes on where it stopped: versions continue, new messages queue last.
    first = after["collections"][CASES][0]
    await target.replace(
        CASES, {**first, "state": "closed"}, expected_version=3, outbox=[event(999, first["_id"])]
    )
    pending = await target.pending_outbox(limit=10_000)
    assert pending[:-1] == before["outbox"]
    assert pending[-1].event.data["n"] == 999 and pending[-1].seq > before["outbox"][-1].seq

    # Rollback path: MongoDB back into a fresh SQLite file.
    back = f"sqlite://{tmp_path / 'back.sqlite3'}"
    await copy_store(target_url, back)
    assert await contents(back) == await contents(target_url)


async def test_export_all_and_import_all_move_every_service_by_the_command_line(
    tmp_path: Path, nx: Nx27017
) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    sqlite = service_urls(data_dir=data_dir, mongodb_uri=None)
    for service, fill in (
        ("intake", fill_intake),
        ("review", fill_review),
        ("notify", fill_notify),
    ):
        await fill_store(sqlite[service], fill)
    before = {s: await contents(sqlite[s]) for s in ("intake", "review", "notify")}
    assert len(before["intake"]["outbox"]) == len(examples("http://x")) + 1

    dumps = tmp_path / "dumps"
    exported = cli("export-all", "--data-dir", str(data_dir), "--to", str(dumps))
    assert exported.returncode == 0, exported.stderr
    assert names(dumps) == [
        "intake.jsonl",
        "notify.jsonl",
        "review.jsonl",
    ]
    assert "review: exported: 29 documents in 3 collections" in exported.stdout

    uri = f"{nx.url}/?serverSelectionTimeoutMS=5000"
    imported = cli("import-all", "--from", str(dumps), "--mongodb-uri", uri)
    assert imported.returncode == 0, imported.stderr
    assert (
        "notify: imported and verified: 7 documents in 1 collections, 4 pending" in imported.stdout
    )
    mongo = service_urls(data_dir=None, mongodb_uri=uri)
    assert mongo["review"] == f"{nx.url}/casework_review?serverSelectionTimeoutMS=5000"
    for service, expected in before.items():
        assert await contents(mongo[service]) == expected, service
    assert await contents(mongo["enforcement"]) == {"collections": {}, "outbox": []}

    # Importing again finds the data there and refuses, naming how to clear it.
    again = cli("import-all", "--from", str(dumps), "--mongodb-uri", uri)
    assert again.returncode == 2
    assert "casework_intake" in again.stderr and "dropDatabase" in again.stderr
    for service, expected in before.items():
        assert await contents(mongo[service]) == expected, service

    # Rollback after the services wrote to MongoDB: back into fresh SQLite files.
    await fill_store(mongo["notify"], more_deliveries)
    on_mongo = {s: await contents(mongo[s]) for s in before}
    back = cli("export-all", "--mongodb-uri", uri, "--to", str(tmp_path / "back"))
    assert back.returncode == 0, back.stderr
    # Every service's database is exported, the empty ones (never used) too.
    assert names(tmp_path / "back") == [f"{s}.jsonl" for s in sorted(mongo)]
    fresh = tmp_path / "var-back"
    restored = cli("import-all", "--from", str(tmp_path / "back"), "--data-dir", str(fresh))
    assert restored.returncode == 0, restored.stderr
    sqlite_back = service_urls(data_dir=fresh, mongodb_uri=None)
    for service, expected in on_mongo.items():
        assert await contents(sqlite_back[service]) == expected, service
    assert len(on_mongo["notify"]["collections"]["deliveries"]) == 8


async def more_deliveries(store: DocumentStore) -> None:
    await store.insert("deliveries", {"_id": "d-new", "to": "x@example.org"}, [event(300, "x")])


async def test_import_refuses_a_target_holding_documents_and_changes_nothing(
    tmp_path: Path, mongo: tuple[str, DocumentStore]
) -> None:
    source = f"sqlite://{tmp_path / 'notify.sqlite3'}"
    await fill_store(source, fill_notify)
    dump = tmp_path / "notify.jsonl"
    await export_store(source, dump)

    target_url, target = mongo
    await target.insert("deliveries", {"_id": "already-here", "v": 1})
    held = await contents(target_url)
    with pytest.raises(TransferError, match="deliveries already hold documents") as refused:
        await import_dump(dump, target_url)
    assert refused.value.code == 2 and "Nothing was written" in str(refused.value)
    assert await contents(target_url) == held

    # A SQLite target the same way, through the command line.
    sqlite_target = tmp_path / "other.sqlite3"

    async def mine(other: DocumentStore) -> None:
        await other.insert("deliveries", {"_id": "d-0", "mine": True})

    await fill_store(f"sqlite://{sqlite_target}", mine)
    result = cli("import", "--from", str(dump), "--to", f"sqlite://{sqlite_target}")
    assert result.returncode == 2
    assert "deliveries already hold documents" in result.stderr
    assert f"move the file {sqlite_target} away" in result.stderr
    assert (await contents(f"sqlite://{sqlite_target}"))["collections"] == {
        "deliveries": [{"_id": "d-0", "_version": 1, "mine": True}]
    }


def corrupt(lines: list[str]) -> Iterator[tuple[str, list[str], str]]:
    """(what, corrupted lines, what the error must say) for a dump's lines."""
    doc = json.loads(lines[2])
    yield "not json", [*lines[:2], lines[2][:-10] + "\n", *lines[3:]], "line 3: not JSON"
    reserved = {**doc, "body": {**doc["body"], "_rev": 1}}
    yield (
        "reserved field",
        [*lines[:2], json.dumps(reserved) + "\n", *lines[3:]],
        (f"line 3: collection 'deliveries': document '{doc['_id']}': field '_rev' is reserved"),
    )
    bad_version = {**doc, "_version": 0}
    yield (
        "version",
        [*lines[:2], json.dumps(bad_version) + "\n", *lines[3:]],
        ("line 3: collection 'deliveries': document 'd-1': '_version' must be an int >= 1"),
    )
    edited = {**doc, "body": {**doc["body"], "tries": 42}}
    yield (
        "edited",
        [*lines[:2], json.dumps(edited) + "\n", *lines[3:]],
        ("collection 'deliveries': digest differs from the header's"),
    )
    yield "truncated", lines[:-1], "header says 4 outbox entries, the file holds 3"
    yield "cut mid-line", [*lines[:-1], lines[-1][:40]], f"line {len(lines)}: cut short"
    entry = json.loads(lines[-1])
    orphan = {**entry, "doc_id": "nobody"}
    yield (
        "orphan entry",
        [*lines[:-1], json.dumps(orphan) + "\n"],
        (f"line {len(lines)}: outbox entry {entry['seq']} belongs to deliveries/nobody"),
    )
    no_time = {**entry, "event": {k: v for k, v in entry["event"].items() if k != "time"}}
    yield (
        "event",
        [*lines[:-1], json.dumps(no_time) + "\n"],
        (f"line {len(lines)}: outbox entry {entry['seq']}: structured event"),
    )
    header = {**json.loads(lines[0]), "version": 2}
    yield "format version", [json.dumps(header) + "\n", *lines[1:]], "format version 2"


async def test_a_corrupt_dump_names_the_line_and_writes_nothing(
    tmp_path: Path, mongo: tuple[str, DocumentStore]
) -> None:
    source = f"sqlite://{tmp_path / 'notify.sqlite3'}"
    await fill_store(source, fill_notify)
    dump = tmp_path / "notify.jsonl"
    await export_store(source, dump)
    lines = dump.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) == 1 + 7 + 4

    target_url, _ = mongo
    for what, bad_lines, message in corrupt(lines):
        bad = tmp_path / f"bad-{what.replace(' ', '-')}.jsonl"
        bad.write_text("".join(bad_lines), encoding="utf-8")
        result = cli("import", "--from", str(bad), "--to", target_url)
        assert result.returncode == 2, (what, result.stderr)
        assert message in result.stderr, (what, result.stderr)
        assert "nothing was written" in result.stderr, what
        assert await contents(target_url) == {"collections": {}, "outbox": []}, what


async def test_verification_finds_a_target_that_differs_from_the_dump(
    tmp_path: Path, mongo: tuple[str, DocumentStore]
) -> None:
    source = f"sqlite://{tmp_path / 'notify.sqlite3'}"
    await fill_store(source, fill_notify)
    dump = tmp_path / "notify.jsonl"
    await export_store(source, dump)
    target_url, target = mongo
    await import_dump(dump, target_url)
    plan = read_plan(dump)

    await target.replace("deliveries", {"_id": "d-5", "tries": 6}, expected_version=1)
    with pytest.raises(TransferError, match="deliveries: same count, different content") as found:
        await verify(target, target_url, plan)
    assert found.value.code == 1
    await target.mark_published((await target.pending_outbox())[:1])
    await target.insert("deliveries", {"_id": "d-extra"})
    with pytest.raises(TransferError) as found:
        await verify(target, target_url, plan)
    assert "deliveries: 8 documents, the dump has 7" in str(found.value)
    assert "outbox: 3 pending entries, the dump has 4" in str(found.value)


async def test_export_of_a_missing_store_file_fails_without_creating_it(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.sqlite3"
    result = cli("export", "--from", f"sqlite://{missing}", "--to", str(tmp_path / "x.jsonl"))
    assert result.returncode == 2
    assert "no such store file" in result.stderr
    assert not missing.exists() and not (tmp_path / "x.jsonl").exists()


async def test_an_export_while_the_service_writes_fails_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    source = f"sqlite://{tmp_path / 'review.sqlite3'}"
    await fill_store(source, many_sessions)
    dump = tmp_path / "review.jsonl"
    service = await open_store(source)  # stands for a service that was not stopped
    try:
        export = asyncio.create_task(export_store(source, dump, batch=1))
        n = 0
        while not export.done():
            n += 1
            await service.insert("sessions", {"_id": f"late-{n}"})
        with pytest.raises(TransferError, match="written to while it was exported") as failed:
            await export
    finally:
        await service.close()
    assert failed.value.code == 1
    assert [name for name in names(tmp_path) if "jsonl" in name] == []

    # Stopped, the same export goes through, and a dump is readable by its owner only.
    await export_store(source, dump)
    assert dump.stat().st_mode & 0o777 == 0o600
    assert read_plan(dump).digests["sessions"].count == SESSIONS + n


SESSIONS = 2000


async def many_sessions(store: DocumentStore) -> None:
    """Enough documents that an export one document at a time outlasts many commits."""
    docs = [{"_id": f"s-{n:05d}", "_version": 1, "staff_id": "x"} for n in range(SESSIONS)]
    await store.restore("sessions", docs)

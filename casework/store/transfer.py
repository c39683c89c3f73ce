"""Move stores between backends (the embedded SQLite files to MongoDB, or back).

    python -m casework.store.transfer export --from URL --to FILE
    python -m casework.store.transfer import --from FILE --to URL
    python -m casework.store.transfer copy --from URL --to URL
    python -m casework.store.transfer export-all --data-dir DIR --to DIR
    python -m casework.store.transfer import-all --from DIR --mongodb-uri URI

Stop the services first: whatever they write after the export is not in the dump. A
SQLite export is one read transaction (one consistent state, documents and outbox
together) and fails if another connection wrote during it; a MongoDB export is not
isolated. An import checks the whole dump before it opens the target, refuses a target
that already holds documents in a dumped collection (or pending outbox entries), writes
documents with their versions and pending outbox entries with their order, then reads
the target back: counts and digests per collection and the pending outbox must match
the dump, or the exit code is not 0. Indexes are not copied: every service creates its
own (``ensure_index``) when it starts, as it does on a fresh store.

Exit codes: 0 done and verified, 1 verification failed or the store changed during the
export, 2 bad arguments, a bad dump or a refused target (nothing written).

The command line is ``casework.store.transfer_cli``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from casework.config import store_url_for
from casework.contract import SERVICES
from casework.store import (
    ID,
    Document,
    DocumentStore,
    OutboxEntry,
    StoreError,
    open_store,
    redact_url,
)
from casework.store.dump import (
    FORMAT,
    VERSION_1,
    Digest,
    DumpError,
    DumpPlan,
    document_json,
    entry_json,
    iter_documents,
    read_plan,
    write_line,
)
from casework.store.sqlite import SqliteStore

BATCH = 500
ALL_PENDING = 2**31 - 1
DUMP_SUFFIX = ".jsonl"


class TransferError(Exception):
    """A transfer that did not happen or did not verify; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Summary:
    """What was moved: documents per collection and pending outbox entries."""

    counts: dict[str, int] = field(default_factory=dict)
    outbox: int = 0

    def lines(self, label: str) -> list[str]:
        total = sum(self.counts.values())
        head = f"{label}: {total} documents in {len(self.counts)} collections,"
        head += f" {self.outbox} pending outbox entries"
        return [head, *(f"  {name}: {count}" for name, count in sorted(self.counts.items()))]


# -- export --------------------------------------------------------------------------


async def export_store(url: str, path: Path, *, batch: int = BATCH) -> Summary:
    """Write the store at ``url`` to the dump file ``path`` (replaced only when done)."""
    _check_source_exists(url)
    store = await _open(url)
    part = path.with_name(path.name + ".part")
    try:
        try:
            changed = await _export(store, url, part, batch)
        finally:
            await store.close()
        if changed:
            raise TransferError(
                f"{redact_url(url)}: written to while it was exported; stop the service"
                " and export again",
                code=1,
            )
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, path)
    plan = read_plan(path)  # the file reads back as it was meant to
    return Summary({n: d.count for n, d in plan.digests.items()}, len(plan.outbox))


async def _export(store: DocumentStore, url: str, part: Path, batch: int) -> bool:
    """Write the dump into ``part``; whether the store changed meanwhile (SQLite only)."""
    if isinstance(store, SqliteStore):
        async with store.snapshot() as snap:
            await _write_dump(store, url, part, batch)
        return snap.changed
    await _write_dump(store, url, part, batch)
    return False


async def _write_dump(store: DocumentStore, url: str, part: Path, batch: int) -> None:
    digests: dict[str, Digest] = {}
    body = part.with_name(part.name + ".body")
    try:
        with _private(body) as out:
            for collection in await store.collections():
                digest = digests.setdefault(collection, Digest())
                async for doc in scan(store, collection, batch=batch):
                    digest.add(doc)
                    write_line(out, document_json(collection, doc))
            pending = await store.pending_outbox(limit=ALL_PENDING)
            for entry in pending:
                write_line(out, entry_json(entry))
        header = {
            "format": FORMAT,
            "version": VERSION_1,
            "source": redact_url(url),
            "exported_at": datetime.now(UTC).isoformat(),
            "collections": {name: d.as_json() for name, d in digests.items()},
            "outbox": len(pending),
        }
        with _private(part) as out, body.open(encoding="utf-8") as lines:
            write_line(out, header)
            for line in lines:
                out.write(line)
            out.flush()
            os.fsync(out.fileno())
    finally:
        body.unlink(missing_ok=True)


async def scan(
    store: DocumentStore, collection: str, *, batch: int = BATCH
) -> AsyncIterator[Document]:
    """Every document of ``collection``, ``_id`` order, read ``batch`` at a time."""
    after: tuple[str, str] | None = None
    while True:
        docs = await store.find(collection, order_by=ID, after=after, limit=batch)
        for doc in docs:
            yield doc
        if len(docs) < batch:
            return
        after = (docs[-1][ID], docs[-1][ID])


# -- import --------------------------------------------------------------------------


async def import_dump(path: Path, url: str, *, batch: int = BATCH) -> Summary:
    """Check the dump, write it into the empty store at ``url`` and verify it there."""
    plan = _plan(path)
    store = await _open(url)
    try:
        await check_target(store, url, plan)
        await restore_plan(store, plan, batch=batch)
        return await verify(store, url, plan)
    finally:
        await store.close()


def _plan(path: Path) -> DumpPlan:
    try:
        return read_plan(path)
    except DumpError as exc:
        raise TransferError(f"{exc}; nothing was written") from exc


async def check_target(store: DocumentStore, url: str, plan: DumpPlan) -> None:
    """Refuse a target that holds documents in a dumped collection, or pending outbox
    entries while the dump has some (their order could not be kept)."""
    taken = sorted(set(await store.collections()) & set(plan.digests))
    where = redact_url(url)
    if taken:
        raise TransferError(
            f"{where}: collection(s) {', '.join(taken)} already hold documents; import only"
            f" into an empty store: {_how_to_empty(url)}. Nothing was written."
        )
    if plan.outbox and await store.pending_outbox(limit=1):
        raise TransferError(
            f"{where}: has pending outbox entries of its own; import only into an empty"
            f" store: {_how_to_empty(url)}. Nothing was written."
        )


def _how_to_empty(url: str) -> str:
    if url.startswith("sqlite://"):
        return f"move the file {url.removeprefix('sqlite://').partition('?')[0]} away"
    database = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return f"drop it (mongosh: db.getSiblingDB('{database}').dropDatabase())"


async def restore_plan(store: DocumentStore, plan: DumpPlan, *, batch: int = BATCH) -> None:
    pending: list[Document] = []
    current: str | None = None

    async def flush() -> None:
        if current is not None and pending:
            entries = [
                entry for doc in pending for entry in plan.outbox_by_doc.get((current, doc[ID]), [])
            ]
            try:
                await store.restore(current, pending, entries)
            except (StoreError, ValueError) as exc:
                raise TransferError(
                    f"collection {current!r}: {exc}; the target is partly written: empty it"
                    " and import again",
                    code=1,
                ) from exc
        pending.clear()

    for collection, doc in iter_documents(plan.path):
        if collection != current or len(pending) >= batch:
            await flush()
            current = collection
        pending.append(doc)
    await flush()


async def verify(store: DocumentStore, url: str, plan: DumpPlan) -> Summary:
    """Read the target back; raise TransferError (code 1) naming every difference."""
    problems: list[str] = []
    for collection, expected in sorted(plan.digests.items()):
        found = Digest()
        async for doc in scan(store, collection):
            found.add(doc)
        if found.count != expected.count:
            problems.append(f"{collection}: {found.count} documents, the dump has {expected.count}")
        elif found.hexdigest != expected.hexdigest:
            problems.append(f"{collection}: same count, different content (digest)")
    pending = [
        entry
        for entry in await store.pending_outbox(limit=ALL_PENDING)
        if entry.collection in plan.digests
    ]
    if pending != plan.outbox:
        problems.append(
            f"outbox: {len(pending)} pending entries, the dump has {len(plan.outbox)}"
            f"{_first_difference(pending, plan.outbox)}"
        )
    if problems:
        raise TransferError(
            f"{redact_url(url)}: verification failed: " + "; ".join(problems), code=1
        )
    return Summary({n: d.count for n, d in plan.digests.items()}, len(plan.outbox))


def _first_difference(found: Sequence[OutboxEntry], expected: Sequence[OutboxEntry]) -> str:
    for index, (a, b) in enumerate(zip(found, expected, strict=False)):
        if a != b:
            return f" (first difference at position {index}: seq {a.seq} vs {b.seq})"
    return ""


# -- several services ----------------------------------------------------------------


def service_urls(*, data_dir: Path | None, mongodb_uri: str | None) -> dict[str, str]:
    """Each service's default store on that backend, named as the services name it."""
    return {
        service: store_url_for(service, data_dir=data_dir or Path("."), mongodb_uri=mongodb_uri)
        for service in SERVICES
    }


async def export_all(urls: dict[str, str], out_dir: Path) -> dict[str, Summary]:
    make_dir(out_dir)
    present = {s: u for s, u in urls.items() if not _missing_sqlite_file(u)}
    if not present:
        raise TransferError("no service store found (is the data directory right?)")
    return {s: await export_store(u, out_dir / f"{s}{DUMP_SUFFIX}") for s, u in present.items()}


async def import_all(in_dir: Path, urls: dict[str, str]) -> dict[str, Summary]:
    """Check every dump and every target first; write only if all are fine."""
    plans = {
        service: _plan(in_dir / f"{service}{DUMP_SUFFIX}")
        for service in urls
        if (in_dir / f"{service}{DUMP_SUFFIX}").exists()
    }
    if not plans:
        raise TransferError(f"{in_dir}: no <service>{DUMP_SUFFIX} dump ({', '.join(SERVICES)})")
    stores: dict[str, DocumentStore] = {}
    try:
        for service in plans:
            stores[service] = await _open(urls[service])
            await check_target(stores[service], urls[service], plans[service])
        done: dict[str, Summary] = {}
        for service, plan in plans.items():
            await restore_plan(stores[service], plan)
            done[service] = await verify(stores[service], urls[service], plan)
        return done
    finally:
        for store in stores.values():
            await store.close()


async def copy_store(source: str, target: str) -> Summary:
    with tempfile.TemporaryDirectory(prefix="casework-transfer-") as tmp:
        path = Path(tmp) / f"copy{DUMP_SUFFIX}"
        await export_store(source, path)
        return await import_dump(path, target)


# -- helpers -------------------------------------------------------------------------


async def _open(url: str) -> DocumentStore:
    try:
        store = await open_store(url)
        await store.ping()
    except StoreError as exc:
        raise TransferError(str(exc), code=1) from exc
    return store


def make_dir(path: Path) -> None:
    # File work blocks the loop, which only this tool's one task uses.
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _private(path: Path) -> TextIO:
    """``path`` opened for writing, readable by its owner only: a dump holds cases."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8")


def _missing_sqlite_file(url: str) -> bool:
    if not url.startswith("sqlite://"):
        return False
    path = url.removeprefix("sqlite://").partition("?")[0]
    return path != "/:memory:" and not Path(path).exists()


def _check_source_exists(url: str) -> None:
    if _missing_sqlite_file(url):
        raise TransferError(f"{url}: no such store file")


if __name__ == "__main__":
    from casework.store.transfer_cli import main

    sys.exit(main())

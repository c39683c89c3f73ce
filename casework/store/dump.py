"""The store dump file: a portable, versioned copy of one store (JSON Lines).

Line 1 is the header; then one line per document; then the pending outbox entries,
oldest first::

    {"format": "casework-store-dump", "version": 1, "source": "sqlite:///…",
     "exported_at": "…", "collections": {"cases": {"count": 2, "digest": "…"}},
     "outbox": 1}
    {"kind": "document", "collection": "cases", "_id": "c-1", "_version": 3, "body": {…}}
    {"kind": "outbox", "seq": 7, "collection": "cases", "doc_id": "c-1",
     "topic": "review.events", "event": {…CloudEvent, structured JSON form…}}

A collection's digest is the sum, modulo 2**256, of the SHA-256 of each document's
canonical JSON (keys sorted, ``_id`` and ``_version`` included): it does not depend on
the order a backend returns documents in, so both sides of a transfer compute it alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from casework.cloudevents import CloudEvent, MalformedEvent
from casework.store import ID, VERSION, Document, OutboxEntry, check_collection, check_restore

FORMAT = "casework-store-dump"
VERSION_1 = 1
_MODULUS = 2**256


class DumpError(Exception):
    """A dump that cannot be imported: the message names the line and the rule."""


def canonical(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


@dataclass
class Digest:
    """Count and order-independent digest of a collection's documents."""

    count: int = 0
    total: int = 0

    def add(self, doc: Mapping[str, Any]) -> None:
        self.count += 1
        hashed = hashlib.sha256(canonical(doc).encode()).digest()
        self.total = (self.total + int.from_bytes(hashed, "big")) % _MODULUS

    @property
    def hexdigest(self) -> str:
        return f"{self.total:064x}"

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "digest": self.hexdigest}


def entry_json(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "kind": "outbox",
        "seq": entry.seq,
        "collection": entry.collection,
        "doc_id": entry.doc_id,
        "topic": entry.topic,
        "event": entry.event.to_dict(),
    }


def document_json(collection: str, doc: Document) -> dict[str, Any]:
    body = {k: v for k, v in doc.items() if k not in (ID, VERSION)}
    return {
        "kind": "document",
        "collection": collection,
        ID: doc[ID],
        VERSION: doc[VERSION],
        "body": body,
    }


def write_line(out: TextIO, value: Mapping[str, Any]) -> None:
    out.write(canonical(value))
    out.write("\n")


@dataclass
class DumpPlan:
    """A dump read and checked whole, before anything is written anywhere."""

    path: Path
    source: str
    exported_at: str
    digests: dict[str, Digest]
    outbox: list[OutboxEntry]
    outbox_by_doc: dict[tuple[str, str], list[OutboxEntry]] = field(default_factory=dict)

    @property
    def documents(self) -> int:
        return sum(d.count for d in self.digests.values())


def read_plan(path: Path) -> DumpPlan:
    """Check every line of the dump at ``path``; raise DumpError at the first problem."""
    try:
        with path.open(encoding="utf-8") as lines:
            return _read_plan(path, lines)
    except OSError as exc:
        raise DumpError(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DumpError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _read_plan(path: Path, lines: TextIO) -> DumpPlan:
    first = lines.readline()
    if not first:
        raise DumpError(f"{path} line 1: empty file, expected the dump header")
    header = _json_line(path, 1, first)
    if header.get("format") != FORMAT:
        raise DumpError(f"{path} line 1: not a store dump (format must be {FORMAT!r})")
    if header.get("version") != VERSION_1:
        raise DumpError(
            f"{path} line 1: dump format version {header.get('version')!r} is not supported"
            f" (this tool reads version {VERSION_1})"
        )
    expected = header.get("collections")
    if not isinstance(expected, dict) or not isinstance(header.get("outbox"), int):
        raise DumpError(f"{path} line 1: header needs 'collections' (object) and 'outbox' (int)")
    digests: dict[str, Digest] = {}
    ids: dict[str, set[str]] = {}
    outbox: list[OutboxEntry] = []
    by_doc: dict[tuple[str, str], list[OutboxEntry]] = {}
    for number, text in enumerate(lines, start=2):
        where = f"{path} line {number}"
        raw = _json_line(path, number, text)
        kind = raw.get("kind")
        if kind == "document":
            if outbox:
                raise DumpError(f"{where}: a document after the outbox entries")
            collection, doc = _document(where, raw)
            seen = ids.setdefault(collection, set())
            if doc[ID] in seen:
                raise DumpError(f"{where}: collection {collection!r}: _id {doc[ID]!r} twice")
            seen.add(doc[ID])
            digests.setdefault(collection, Digest()).add(doc)
        elif kind == "outbox":
            entry = _entry(where, raw)
            if entry.doc_id not in ids.get(entry.collection, set()):
                raise DumpError(
                    f"{where}: outbox entry {entry.seq} belongs to"
                    f" {entry.collection}/{entry.doc_id}, which is not in the dump"
                )
            if outbox and entry.seq <= outbox[-1].seq:
                raise DumpError(f"{where}: outbox seq {entry.seq} is not after {outbox[-1].seq}")
            outbox.append(entry)
            by_doc.setdefault((entry.collection, entry.doc_id), []).append(entry)
        else:
            raise DumpError(f"{where}: 'kind' must be 'document' or 'outbox'")
    _check_totals(path, expected, header["outbox"], digests, len(outbox))
    return DumpPlan(
        path=path,
        source=str(header.get("source", "?")),
        exported_at=str(header.get("exported_at", "?")),
        digests=digests,
        outbox=outbox,
        outbox_by_doc=by_doc,
    )


def iter_documents(path: Path) -> Iterator[tuple[str, Document]]:
    """The documents of a dump that ``read_plan`` accepted, in file order."""
    with path.open(encoding="utf-8") as lines:
        lines.readline()
        for number, text in enumerate(lines, start=2):
            raw = _json_line(path, number, text)
            if raw.get("kind") != "document":
                return
            yield _document(f"{path} line {number}", raw)


def _json_line(path: Path, number: int, text: str) -> dict[str, Any]:
    if not text.endswith("\n"):
        raise DumpError(f"{path} line {number}: cut short (no line end): truncated file?")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DumpError(
            f"{path} line {number}: not JSON ({exc.msg} at column {exc.colno})"
        ) from exc
    if not isinstance(value, dict):
        raise DumpError(f"{path} line {number}: must be a JSON object")
    return value


def _document(where: str, raw: Mapping[str, Any]) -> tuple[str, Document]:
    collection = raw.get("collection")
    if not isinstance(collection, str):
        raise DumpError(f"{where}: 'collection' must be a string")
    try:
        check_collection(collection)
    except ValueError as exc:
        raise DumpError(f"{where}: {exc}") from exc
    body = raw.get("body")
    if not isinstance(body, dict):
        raise DumpError(f"{where}: collection {collection!r}: 'body' must be an object")
    doc: Document = {ID: raw.get(ID), VERSION: raw.get(VERSION)}
    for key, value in body.items():
        if key in (ID, VERSION):
            raise DumpError(f"{where}: collection {collection!r}: 'body' must not hold {key!r}")
        doc[key] = value
    try:
        check_restore(collection, [doc], ())
    except ValueError as exc:
        raise DumpError(f"{where}: collection {collection!r}: {exc}") from exc
    return collection, doc


def _entry(where: str, raw: Mapping[str, Any]) -> OutboxEntry:
    seq, collection, doc_id, topic = (raw.get(k) for k in ("seq", "collection", "doc_id", "topic"))
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise DumpError(f"{where}: outbox 'seq' must be an int >= 1")
    for name, value in (("collection", collection), ("doc_id", doc_id), ("topic", topic)):
        if not isinstance(value, str) or not value:
            raise DumpError(f"{where}: outbox entry {seq}: {name!r} must be a non-empty string")
    event = raw.get("event")
    if not isinstance(event, dict):
        raise DumpError(f"{where}: outbox entry {seq}: 'event' must be an object")
    try:
        parsed = CloudEvent.from_dict(event)
    except MalformedEvent as exc:
        raise DumpError(f"{where}: outbox entry {seq}: {exc}") from exc
    if parsed.to_dict() != event:
        raise DumpError(
            f"{where}: outbox entry {seq}: 'event' does not survive a round trip"
            " (not the structured CloudEvent form this store writes)"
        )
    assert isinstance(collection, str) and isinstance(doc_id, str) and isinstance(topic, str)
    return OutboxEntry(collection=collection, doc_id=doc_id, topic=topic, event=parsed, seq=seq)


def _check_totals(
    path: Path,
    expected: Mapping[str, Any],
    outbox_expected: int,
    digests: Mapping[str, Digest],
    outbox_found: int,
) -> None:
    for name in sorted(set(expected) | set(digests)):
        want = expected.get(name)
        got = digests.get(name, Digest())
        if not isinstance(want, dict):
            raise DumpError(f"{path}: collection {name!r} has documents the header does not list")
        if want.get("count") != got.count:
            raise DumpError(
                f"{path}: collection {name!r}: header says {want.get('count')} documents,"
                f" the file holds {got.count} (truncated or edited?)"
            )
        if want.get("digest") != got.hexdigest:
            raise DumpError(
                f"{path}: collection {name!r}: digest differs from the header's (edited?)"
            )
    if outbox_expected != outbox_found:
        raise DumpError(
            f"{path}: header says {outbox_expected} outbox entries, the file holds {outbox_found}"
        )

"""Document store port: each service owns its documents and an outbox written with them.

A document is a JSON-compatible dict carrying ``"_id"`` (str) and ``"_version"`` (int,
1 after insert, +1 per replace). Writes take the outbox messages they cause, and each
adapter stores those messages atomically with the document, so an event exists if and
only if the state change that caused it exists. ``OutboxRelay`` publishes them.

A published entry is kept as history (``mark_published``) until ``purge_published``
removes it: when the bus loses what it held, the relay re-publishes the history of its
retention window (``published_outbox``) in ``seq`` order.

Top-level field names starting with ``_`` (other than ``_id`` and ``_version``) are
reserved for the adapters' bookkeeping and are never returned.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from casework.cloudevents import CloudEvent

Document = dict[str, Any]

ID = "_id"
VERSION = "_version"

_COLLECTION_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_FIELD_SEGMENT_RE = re.compile(r"[A-Za-z0-9_]+")
_INT64 = 2**63


@dataclass(frozen=True)
class OutboxMessage:
    """An event to publish on ``topic`` once the write that carries it is stored."""

    topic: str
    event: CloudEvent


@dataclass(frozen=True)
class OutboxEntry:
    """A stored outbox message, pending or (kept as history) published. ``seq`` orders
    entries oldest first."""

    collection: str
    doc_id: str
    topic: str
    event: CloudEvent
    seq: int


class StoreError(Exception):
    """The store could not do what was asked (backend failure or invalid request)."""


class DuplicateDocument(StoreError):
    """Insert of an ``_id`` that already exists in the collection; nothing was written."""


class VersionConflict(StoreError):
    """Replace whose ``expected_version`` is not the stored one (or no such document)."""


class OutboxPending(StoreError):
    """Delete of a document whose outbox messages are not all published; nothing was
    deleted. Retry once the relay has published them (``pending_outbox`` is empty for it).
    """


class DocumentStore(Protocol):
    async def get(self, collection: str, doc_id: str) -> Document | None: ...

    async def insert(
        self, collection: str, doc: Document, outbox: Sequence[OutboxMessage] = ()
    ) -> Document: ...

    async def replace(
        self,
        collection: str,
        doc: Document,
        *,
        expected_version: int,
        outbox: Sequence[OutboxMessage] = (),
    ) -> Document: ...

    async def find(
        self,
        collection: str,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        after: tuple[str | int | float, str] | None = None,
    ) -> list[Document]:
        """Documents whose fields equal ``where``'s scalar values (dotted paths allowed;
        ``None`` matches null or missing). Ordered by ``order_by`` then ``_id``.

        ``after`` (keyset paging, with ``order_by``): only documents that sort after the
        one whose ``order_by`` value and ``_id`` are given (a non-null value)."""
        ...

    async def ensure_index(self, collection: str, field: str, *then: str) -> None:
        """An index on ``field`` (then on each of ``then``: a compound index)."""
        ...

    async def delete(
        self, collection: str, doc_id: str, *, expected_version: int | None = None
    ) -> bool:
        """Remove a document; True if it existed, False if there was none to remove.

        With ``expected_version``, a stored document at another version raises
        ``VersionConflict`` and stays. A document with outbox messages not yet published
        raises ``OutboxPending`` and stays (on MongoDB they live inside the document, so
        deleting it would lose them; every backend refuses alike)."""
        ...

    async def collections(self) -> list[str]:
        """Names of the collections that hold at least one document, sorted (never the
        adapter's own bookkeeping)."""
        ...

    async def restore(
        self, collection: str, docs: Sequence[Document], outbox: Sequence[OutboxEntry] = ()
    ) -> None:
        """Write ``docs`` exactly as given, ``_version`` included, with the pending
        ``outbox`` entries of those documents, ``seq`` included: for moving a store
        (``casework.store.transfer``), never for a service's own writes.

        Validates everything before writing: each document as ``insert`` does, a
        ``_version`` >= 1, each entry belonging to one of ``docs``. An ``_id`` already
        stored raises ``DuplicateDocument`` (SQLite then writes nothing; MongoDB, with no
        transactions, may have written the documents before it). A ``seq`` must not be
        stored already (pending or kept). The history is not moved."""
        ...

    async def pending_outbox(self, limit: int = 100) -> list[OutboxEntry]: ...

    async def mark_published(self, entries: Sequence[OutboxEntry], *, keep: bool = True) -> None:
        """No longer pending. ``keep``: kept as history, published now (for a replay);
        else dropped for good (an entry parked because the broker can never take it)."""
        ...

    async def published_outbox(
        self, since: float, *, after: int = 0, limit: int = 100
    ) -> list[OutboxEntry]:
        """Kept entries published at or after ``since`` (Unix seconds) with a ``seq`` above
        ``after``, oldest ``seq`` first (page on with the last one's ``seq``)."""
        ...

    async def purge_published(self, before: float) -> int:
        """Drop kept entries published before ``before`` (Unix seconds); how many."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


async def open_store(url: str) -> DocumentStore:
    """Open the store named by ``url``.

    ``sqlite:///abs/path.sqlite3`` (optionally ``?synchronous=NORMAL``),
    ``sqlite:///:memory:``, or ``mongodb://host:port/dbname`` (any pymongo URI that
    names a database, ``mongodb+srv://`` included).
    """
    scheme = url.partition("://")[0]
    if scheme == "sqlite":
        from casework.store.sqlite import SqliteStore

        return await SqliteStore.open_url(url)
    if scheme in ("mongodb", "mongodb+srv"):
        from casework.store.mongo import MongoStore

        return await MongoStore.open_url(url)
    raise StoreError(f"store url {redact_url(url)!r}: unknown scheme (sqlite:// or mongodb://)")


def redact_url(url: str) -> str:
    """``url`` with any password replaced, for error messages and logs."""
    return re.sub(r"(://[^:/@]+:)[^@/]*@", r"\1***@", url)


# Validation shared by the adapters, so that what one backend accepts the other does too.


def is_collection_name(name: str) -> bool:
    """Whether ``name`` is a valid collection name (so not an adapter's own)."""
    return _COLLECTION_RE.fullmatch(name) is not None


def check_collection(name: str) -> None:
    if not is_collection_name(name):
        raise ValueError(
            f"collection name {name!r}: must be a letter then letters, digits or _ (max 63)"
        )


def check_field(field: str) -> None:
    """A queryable field: ``_id``, ``_version`` or a dotted path of plain names."""
    if field in (ID, VERSION):
        return
    segments = field.split(".")
    if segments[0].startswith("_") or not all(_FIELD_SEGMENT_RE.fullmatch(s) for s in segments):
        raise ValueError(f"field {field!r}: must be dotted names of letters, digits and _")


def check_where_value(field: str, value: Any) -> None:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise TypeError(f"where[{field!r}]: only str, int, float, bool or None can be matched")


def check_document(doc: Mapping[str, Any]) -> str:
    """Validate a document to write; return its id."""
    doc_id = doc.get(ID)
    if not isinstance(doc_id, str) or not doc_id:
        raise ValueError("document: '_id' must be a non-empty str")
    for key, value in doc.items():
        if key.startswith("_") and key not in (ID, VERSION):
            raise ValueError(f"document {doc_id!r}: field {key!r} is reserved for the store")
        _check_json(value, f"{doc_id}.{key}")
    return doc_id


def _check_json(value: Any, path: str) -> None:
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError(f"{path}: integer out of 64-bit range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: non-finite float is not JSON")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: object keys must be str")
            _check_json(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")
    else:
        raise ValueError(f"{path}: {type(value).__name__} is not JSON-compatible")


def check_restore(
    collection: str, docs: Sequence[Document], outbox: Sequence[OutboxEntry]
) -> list[tuple[str, int]]:
    """Validate a ``restore``; return each document's (id, version)."""
    check_collection(collection)
    keys: list[tuple[str, int]] = []
    for doc in docs:
        doc_id = check_document(doc)
        version = doc.get(VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(f"document {doc_id!r}: '_version' must be an int >= 1")
        keys.append((doc_id, version))
    ids = {doc_id for doc_id, _ in keys}
    if len(ids) != len(keys):
        raise ValueError(f"{collection}: the same '_id' twice in one restore")
    for entry in outbox:
        if entry.collection != collection or entry.doc_id not in ids:
            raise ValueError(
                f"outbox entry {entry.seq}: belongs to {entry.collection}/{entry.doc_id},"
                f" not to a document of this restore into {collection!r}"
            )
        if isinstance(entry.seq, bool) or not isinstance(entry.seq, int) or entry.seq < 1:
            raise ValueError(f"outbox entry {entry.seq!r}: seq must be an int >= 1")
    if len({entry.seq for entry in outbox}) != len(outbox):
        raise ValueError(f"{collection}: the same outbox seq twice in one restore")
    return keys


def user_fields(doc: Mapping[str, Any]) -> Document:
    """The document without ``_id`` and ``_version``."""
    return {k: v for k, v in doc.items() if k not in (ID, VERSION)}

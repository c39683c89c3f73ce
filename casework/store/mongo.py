"""MongoDB adapter (``pymongo.AsyncMongoClient``): one database per service.

No multi-document transactions (a standalone mongod has none), so the outbox lives in
the document it belongs to::

    {"_id", "_version", ...fields, "_rev": n,
     "_outbox": [{"seq", "topic", "event"}, ...],   # pending messages, oldest first
     "_outbox_head": min seq}                       # present only while some are pending

Every write is one whole-document ``insert_one`` / ``replace_one``, conditional on
``_rev``, the document's internal revision, which every write bumps (including
``mark_published``, which leaves ``_version`` alone). A replace whose condition fails
re-reads: if ``_version`` moved it is a ``VersionConflict``, otherwise only the outbox
changed under it and it retries. Whole-document writes rather than ``$set``/``$push``
because they keep types exactly (and because nx-27017 mangles both). ``seq`` comes from
a counter document (``_outbox_seq``), allocated after the version check, so it grows
in commit order within a document; across documents it is only approximately ordered.

Published entries are kept as history in ``_outbox_history`` (``_id`` the seq, the
``published`` Unix time), written before they leave their document: a crash in between
leaves an entry both pending and kept, and it is published again (at least once).

Size: one adapter for one port: documents, outbox, history and migrations share the
client and the ``_rev`` checks, so split by concern each part would reach into them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import pymongo
from pymongo import AsyncMongoClient, ReplaceOne, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError
from pymongo.uri_parser import parse_uri

from casework.cloudevents import CloudEvent
from casework.store import (
    ID,
    VERSION,
    Document,
    DuplicateDocument,
    OutboxEntry,
    OutboxMessage,
    OutboxPending,
    StoreError,
    VersionConflict,
    check_collection,
    check_document,
    check_field,
    check_restore,
    check_where_value,
    is_collection_name,
    redact_url,
)

REV = "_rev"
OUTBOX = "_outbox"
HEAD = "_outbox_head"
SEQ_COLLECTION = "_outbox_seq"
HISTORY = "_outbox_history"
_HIDDEN = {REV: 0, OUTBOX: 0, HEAD: 0}
_MAX_RETRIES = 100

MongoDoc = dict[str, Any]


class MongoStore:
    def __init__(
        self,
        client: AsyncMongoClient[MongoDoc],
        database: str,
        *,
        ping_timeout: float = 5.0,
    ) -> None:
        self._client = client
        self._db: AsyncDatabase[MongoDoc] = client[database]
        self._ping_timeout = ping_timeout
        self._outbox_indexed: set[str] = set()
        self._history_indexed = False
        self._closed = False

    @classmethod
    async def open_url(cls, url: str) -> MongoStore:
        """Open ``mongodb://host:port/dbname``; the database name is required.

        Writes are acknowledged by a majority and journaled unless the URL sets ``w`` or
        ``journal`` itself: a decision must survive the server losing power.
        """
        try:
            parsed = parse_uri(url)
        except (PyMongoError, ValueError) as exc:
            raise StoreError(f"store url {redact_url(url)!r}: {exc}") from exc
        database = parsed.get("database")
        if not database:
            raise StoreError(
                f"store url {redact_url(url)!r} names no database: use mongodb://host:port/dbname"
            )
        options = {name.lower() for name in parsed.get("options", {})}
        durability: dict[str, Any] = {}
        if not options & {"w", "journal", "j"}:
            durability = {"w": "majority", "journal": True}
        client: AsyncMongoClient[MongoDoc] = AsyncMongoClient(url, connect=False, **durability)
        return cls(client, database)

    def _coll(self, collection: str) -> AsyncCollection[MongoDoc]:
        check_collection(collection)
        return self._db[collection]

    # -- reads -----------------------------------------------------------------------

    async def get(self, collection: str, doc_id: str) -> Document | None:
        coll = self._coll(collection)
        try:
            return await coll.find_one({ID: doc_id}, _HIDDEN)
        except PyMongoError as exc:
            raise _backend_error(exc) from exc

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
        coll = self._coll(collection)
        query: MongoDoc = {}
        for field, value in (where or {}).items():
            check_field(field)
            check_where_value(field, value)
            query[field] = _match(value)
        if after is not None:
            if order_by is None:
                raise ValueError("after needs order_by")
            value, last_id = after
            check_where_value(order_by, value)
            beyond = "$lt" if descending else "$gt"
            query = {
                "$and": [
                    query,
                    {"$or": [{order_by: {beyond: value}}, {order_by: value, ID: {"$gt": last_id}}]},
                ]
            }
        sort: list[tuple[str, int]] = [(ID, pymongo.ASCENDING)]
        if order_by is not None:
            check_field(order_by)
            direction = pymongo.DESCENDING if descending else pymongo.ASCENDING
            sort = [(order_by, direction)] + (sort if order_by != ID else [])
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        if limit == 0:
            return []
        cursor = coll.find(query, _HIDDEN, sort=sort, limit=limit or 0)
        try:
            return await cursor.to_list()
        except PyMongoError as exc:
            raise _backend_error(exc) from exc

    async def pending_outbox(self, limit: int = 100) -> list[OutboxEntry]:
        entries: list[OutboxEntry] = []
        try:
            names = await self._db.list_collection_names()
            for name in sorted(n for n in names if is_collection_name(n)):
                # HEAD is the smallest pending seq of a document, so the `limit` oldest
                # entries of a collection lie in its first `limit` documents by HEAD.
                cursor = self._db[name].find(
                    {HEAD: {"$exists": True}},
                    {OUTBOX: 1},
                    sort=[(HEAD, pymongo.ASCENDING), (ID, pymongo.ASCENDING)],
                    limit=limit,
                )
                async for raw in cursor:
                    entries.extend(_entries(name, raw))
        except PyMongoError as exc:
            raise _backend_error(exc) from exc
        entries.sort(key=lambda entry: entry.seq)
        return entries[:limit]

    async def published_outbox(
        self, since: float, *, after: int = 0, limit: int = 100
    ) -> list[OutboxEntry]:
        cursor = self._db[HISTORY].find(
            {"published": {"$gte": since}, ID: {"$gt": after}},
            sort=[(ID, pymongo.ASCENDING)],
            limit=limit,
        )
        try:
            return [
                OutboxEntry(
                    collection=raw["collection"],
                    doc_id=raw["doc_id"],
                    topic=raw["topic"],
                    event=CloudEvent.from_dict(raw["event"]),
                    seq=int(raw[ID]),
                )
                async for raw in cursor
            ]
        except PyMongoError as exc:
            raise _backend_error(exc) from exc

    async def purge_published(self, before: float) -> int:
        try:
            result = await self._db[HISTORY].delete_many({"published": {"$lt": before}})
        except PyMongoError as exc:
            raise _backend_error(exc) from exc
        return int(result.deleted_count)

    async def collections(self) -> list[str]:
        try:
            names = await self._db.list_collection_names()
            return [
                name
                for name in sorted(n for n in names if is_collection_name(n))
                if await self._db[name].find_one({}, {ID: 1}) is not None
            ]
        except PyMongoError as exc:
            raise _backend_error(exc) from exc

    async def ping(self) -> None:
        if self._closed:
            raise StoreError("mongo store is closed")
        try:
            limit = min(self._ping_timeout, self._client.options.server_selection_timeout)
            with pymongo.timeout(limit):
                await self._db.command("ping")
        except PyMongoError as exc:
            raise _backend_error(exc) from exc

    # -- writes ----------------------------------------------------------------------

    async def insert(
        self, collection: str, doc: Document, outbox: Sequence[OutboxMessage] = ()
    ) -> Document:
        coll = self._coll(collection)
        doc_id = check_document(doc)
        stored: MongoDoc = {**doc, ID: doc_id, VERSION: 1, REV: 1}
        try:
            if outbox:
                await self._index_outbox(coll)
                new = await self._outbox_records(outbox)  # a duplicate leaves a seq gap
                stored[OUTBOX] = new
                stored[HEAD] = new[0]["seq"]
            await coll.insert_one(stored)
        except DuplicateKeyError as exc:
            raise DuplicateDocument(f"{collection}/{doc_id} already exists") from exc
        except PyMongoError as exc:
            raise _backend_error(exc) from exc
        return _public(stored)

    async def replace(
        self,
        collection: str,
        doc: Document,
        *,
        expected_version: int,
        outbox: Sequence[OutboxMessage] = (),
    ) -> Document:
        coll = self._coll(collection)
        doc_id = check_document(doc)
        new: list[MongoDoc] = []
        try:
            for _ in range(_MAX_RETRIES):
                current = await coll.find_one({ID: doc_id}, {VERSION: 1, REV: 1, OUTBOX: 1})
                if current is None or current.get(VERSION) != expected_version:
                    raise VersionConflict(
                        f"{collection}/{doc_id}: not at version {expected_version} (or missing)"
                    )
                if outbox and not new:
                    await self._index_outbox(coll)
                    new = await self._outbox_records(outbox)
                stored: MongoDoc = {**doc, ID: doc_id, VERSION: expected_version + 1}
                stored[REV] = current[REV] + 1
                _set_outbox(stored, list(current.get(OUTBOX, [])) + new)
                result = await coll.replace_one(
                    {ID: doc_id, VERSION: expected_version, REV: current[REV]}, stored
                )
                if result.matched_count == 1:
                    return _public(stored)
        except PyMongoError as exc:
            raise _backend_error(exc) from exc
        raise StoreError(f"{collection}/{doc_id}: replace kept racing with other writes")

    async def ensure_index(self, collection: str, field: str, *then: str) -> None:
        coll = self._coll(collection)
        fields = (field, *then)
        for name in fields:
            check_field(name)
        if fields == (ID,):
            return
        try:
            await coll.create_index([(f, pymongo.ASCENDING) for f in fields])
        except PyMongoError as exc:
            raise _backend_error(exc) from exc

    async def delete(
        self, collection: str, doc_id: str, *, expected_version: int | None = None
    ) -> bool:
        coll = self._coll(collection)
        condition: MongoDoc = {ID: doc_id, HEAD: {"$exists": False}}
        if expected_version is not None:
            condition[VERSION] = expected_version
        try:
            for _ in range(_MAX_RETRIES):
                result = await coll.delete_one(condition)
                if result.deleted_count == 1:
                    return True
                current = await coll.find_one({ID: doc_id}, {VERSION: 1, HEAD: 1})
                if current is None:
                    return False
                if expected_version is not None and current.get(VERSION) != expected_version:
                    raise VersionConflict(
                        f"{collection}/{doc_id}: not at version {expected_version} (delete)"
                    )
                if HEAD in current:
                    raise OutboxPending(f"{collection}/{doc_id}: outbox messages not yet published")
                # Published or replaced between the two reads: try again.
        except PyMongoError as exc:
            raise _backend_error(exc) from exc
        raise StoreError(f"{collection}/{doc_id}: delete kept racing with other writes")

    async def restore(
        self, collection: str, docs: Sequence[Document], outbox: Sequence[OutboxEntry] = ()
    ) -> None:
        coll = self._coll(collection)
        keys = check_restore(collection, docs, outbox)
        pending: dict[str, list[MongoDoc]] = {}
        for entry in sorted(outbox, key=lambda e: e.seq):
            record = {"seq": entry.seq, "topic": entry.topic, "event": entry.event.to_dict()}
            pending.setdefault(entry.doc_id, []).append(record)
        stored: list[MongoDoc] = []
        for (doc_id, version), doc in zip(keys, docs, strict=True):
            record_doc: MongoDoc = {**doc, ID: doc_id, VERSION: version, REV: 1}
            _set_outbox(record_doc, pending.get(doc_id, []))
            stored.append(record_doc)
        if not stored:
            return
        try:
            if outbox:
                await self._index_outbox(coll)
                # New messages written after the move must sort after the restored ones.
                await self._raise_seq_floor(max(entry.seq for entry in outbox))
            await coll.insert_many(stored, ordered=True)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if errors and errors[0].get("code") == 11000:
                taken = stored[errors[0].get("index", 0)][ID]
                raise DuplicateDocument(f"{collection}/{taken} already exists") from exc
            raise _backend_error(exc) from exc
        except PyMongoError as exc:
            raise _backend_error(exc) from exc

    async def mark_published(self, entries: Sequence[OutboxEntry], *, keep: bool = True) -> None:
        by_collection: dict[str, dict[str, set[int]]] = {}
        for entry in entries:
            docs = by_collection.setdefault(entry.collection, {})
            docs.setdefault(entry.doc_id, set()).add(entry.seq)
        try:
            if keep and entries:
                await self._keep(entries)
            for collection, seqs_by_doc in by_collection.items():
                await self._remove_outboxes(self._coll(collection), seqs_by_doc)
        except PyMongoError as exc:
            raise _backend_error(exc) from exc

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.close()

    # -- internals -------------------------------------------------------------------

    async def _remove_outboxes(
        self, coll: AsyncCollection[MongoDoc], seqs_by_doc: dict[str, set[int]]
    ) -> None:
        """Take ``seqs`` out of each document's outbox: one read and one bulk write for
        them all; when some document changed in between (its ``_rev`` condition did not
        match), each is done again on its own (a no-op for those already done)."""
        ops: list[ReplaceOne[MongoDoc]] = []
        async for current in coll.find({ID: {"$in": list(seqs_by_doc)}}):
            rev = _take_out_of_outbox(current, seqs_by_doc[current[ID]])
            if rev is not None:
                ops.append(ReplaceOne({ID: current[ID], REV: rev}, current))
        if not ops:
            return
        result = await coll.bulk_write(ops, ordered=False)
        if result.matched_count != len(ops):
            for doc_id, seqs in seqs_by_doc.items():
                await self._remove_outbox(coll, doc_id, seqs)

    async def _remove_outbox(
        self, coll: AsyncCollection[MongoDoc], doc_id: str, seqs: set[int]
    ) -> None:
        for _ in range(_MAX_RETRIES):
            current = await coll.find_one({ID: doc_id})
            if current is None:
                return
            rev = _take_out_of_outbox(current, seqs)
            if rev is None:
                return
            result = await coll.replace_one({ID: doc_id, REV: rev}, current)
            if result.matched_count == 1:
                return
        raise StoreError(f"{coll.name}/{doc_id}: mark_published kept racing with other writes")

    async def _keep(self, entries: Sequence[OutboxEntry]) -> None:
        """Write ``entries`` to the history; one kept already stays as it is."""
        history = self._db[HISTORY]
        if not self._history_indexed:
            await history.create_index("published")
            self._history_indexed = True
        now = time.time()
        records = [
            {
                ID: entry.seq,
                "collection": entry.collection,
                "doc_id": entry.doc_id,
                "topic": entry.topic,
                "event": entry.event.to_dict(),
                "published": now,
            }
            for entry in entries
        ]
        try:
            await history.insert_many(records, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != 11000 for error in errors):
                raise

    async def _outbox_records(self, outbox: Sequence[OutboxMessage]) -> list[MongoDoc]:
        last = await self._allocate_seqs(len(outbox))
        first = last - len(outbox) + 1
        return [
            {"seq": first + i, "topic": m.topic, "event": m.event.to_dict()}
            for i, m in enumerate(outbox)
        ]

    async def _allocate_seqs(self, count: int) -> int:
        """Reserve ``count`` consecutive seqs; return the last one."""
        counter = self._db[SEQ_COLLECTION]
        for attempt in range(2):
            try:
                raw = await counter.find_one_and_update(
                    {ID: "seq"},
                    {"$inc": {"n": count}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                if attempt:  # two first-ever upserts raced; the retry finds the document
                    raise
                continue
            assert raw is not None
            return int(raw["n"])
        raise AssertionError("unreachable")

    async def _raise_seq_floor(self, floor: int) -> None:
        """Make the seq counter at least ``floor``."""
        counter = self._db[SEQ_COLLECTION]
        for _ in range(_MAX_RETRIES):
            raw = await counter.find_one({ID: "seq"})
            if raw is None:
                try:
                    await counter.insert_one({ID: "seq", "n": floor})
                    return
                except DuplicateKeyError:
                    continue
            current = int(raw["n"])
            if current >= floor:
                return
            moved = await counter.find_one_and_update(
                {ID: "seq", "n": current}, {"$inc": {"n": floor - current}}
            )
            if moved is not None:
                return
        raise StoreError("outbox seq counter kept racing with other writes")

    async def _index_outbox(self, coll: AsyncCollection[MongoDoc]) -> None:
        if coll.name not in self._outbox_indexed:
            await coll.create_index(HEAD, sparse=True)
            self._outbox_indexed.add(coll.name)


def _match(value: Any) -> Any:
    # {"$type"} keeps true from matching 1 on servers that store booleans as integers.
    if isinstance(value, bool):
        return {"$eq": value, "$type": "bool"}
    if isinstance(value, int | float):
        return {"$eq": value, "$type": "number"}
    return value


def _take_out_of_outbox(current: MongoDoc, seqs: set[int]) -> int | None:
    """Take ``seqs`` out of ``current``'s outbox in place, with the next ``_rev``; the
    ``_rev`` it was read at (the replace's condition), or None when none was there."""
    pending = list(current.get(OUTBOX, []))
    remaining = [record for record in pending if record["seq"] not in seqs]
    if len(remaining) == len(pending):
        return None
    rev: int = current[REV]
    current[REV] = rev + 1
    _set_outbox(current, remaining)
    return rev


def _set_outbox(stored: MongoDoc, pending: list[MongoDoc]) -> None:
    if pending:
        stored[OUTBOX] = pending
        stored[HEAD] = min(record["seq"] for record in pending)
    else:
        stored.pop(OUTBOX, None)
        stored.pop(HEAD, None)


def _public(stored: MongoDoc) -> Document:
    return {k: v for k, v in stored.items() if k not in _HIDDEN}


def _entries(collection: str, raw: MongoDoc) -> list[OutboxEntry]:
    return [
        OutboxEntry(
            collection=collection,
            doc_id=raw[ID],
            topic=record["topic"],
            event=CloudEvent.from_dict(record["event"]),
            seq=int(record["seq"]),
        )
        for record in raw.get(OUTBOX, [])
    ]


def _backend_error(exc: PyMongoError) -> StoreError:
    return StoreError(f"mongodb: {exc}")

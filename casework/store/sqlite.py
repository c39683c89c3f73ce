"""SQLite adapter: a table per collection, JSON bodies, an outbox table (pending rows,
and published rows kept as history until purged).

Writes go through one writer connection with group commit (``group_commit``): writes
that arrive together share one ``BEGIN IMMEDIATE`` transaction and its fsync, each in
its own savepoint, and a write and its outbox rows are always in the same one. Reads use
a second connection (aiosqlite; WAL lets it read while a write is in progress and it
never sees an uncommitted transaction); an in-memory database has only the writer
connection, so there reads run on the writer's thread between groups.

Size: one adapter for one port: documents, outbox, history and migrations share the
writer connection and its transactions, so split by concern each part would reach into it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs

import aiosqlite
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random

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
    user_fields,
)
from casework.store.group_commit import GroupCommitter

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
MEMORY = ":memory:"
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    event TEXT NOT NULL,
    published REAL
)
"""
# Entries are kept after publishing (``published``: Unix time, NULL while pending); the
# partial index keeps finding the pending ones as cheap as when published rows were deleted.
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE published IS NULL",
    (
        "CREATE INDEX IF NOT EXISTS outbox_published ON outbox (published)"
        " WHERE published IS NOT NULL"
    ),
)


def _table(collection: str) -> str:
    return f'"doc_{collection}"'


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _expr(field: str) -> str:
    """SQL for a field; json paths are inlined (validated) so expression indexes match."""
    if field == ID:
        return "id"
    if field == VERSION:
        return "version"
    return f"json_extract(body, '$.{field}')"


@dataclass
class Snapshot:
    changed: bool = False


class SqliteStore:
    def __init__(
        self,
        writer: GroupCommitter,
        reader: aiosqlite.Connection | None,
        point_reader: sqlite3.Connection | None = None,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._point_reader = point_reader
        self._tables: set[str] = set()  # collections whose table is known to be committed
        self._closed = False

    @classmethod
    async def open(cls, path: str, *, synchronous: Synchronous = "FULL") -> SqliteStore:
        """Open (creating if needed) the database at ``path`` (or ``:memory:``).

        ``synchronous=FULL`` (the default) syncs the WAL on every commit, so a write
        that returned survives power loss; ``NORMAL`` may lose the last commits.
        """
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous={synchronous!r}: OFF, NORMAL, FULL or EXTRA")
        writer = await GroupCommitter.connect(path)
        reader: aiosqlite.Connection | None = None
        point_reader: sqlite3.Connection | None = None
        try:
            await writer.call(lambda conn: _set_up(conn, path != MEMORY, synchronous))
            if path != MEMORY:
                reader = await aiosqlite.connect(path, isolation_level=None)
                await reader.execute("PRAGMA busy_timeout = 5000")
                await reader.execute("PRAGMA query_only = ON")
                point_reader = _point_reader(path)
        except BaseException:
            await writer.close()
            if reader is not None:
                await reader.close()
            if point_reader is not None:
                point_reader.close()
            raise
        store = cls(writer, reader, point_reader)
        await store._load_tables()
        return store

    @classmethod
    async def open_url(cls, url: str) -> SqliteStore:
        """``sqlite:///abs/path.sqlite3[?synchronous=NORMAL]`` or ``sqlite:///:memory:``."""
        rest = url.removeprefix("sqlite://")
        path, _, query = rest.partition("?")
        if path == "/" + MEMORY:
            path = MEMORY
        if path != MEMORY and (not path.startswith("/") or path == "/"):
            raise StoreError(f"store url {url!r}: expected sqlite:///absolute/path.sqlite3")
        options = {k: v[-1] for k, v in parse_qs(query).items()}
        sync = options.pop("synchronous", "FULL").upper()
        if options:
            raise StoreError(f"store url {url!r}: unknown options {sorted(options)}")
        if sync not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StoreError(f"store url {url!r}: synchronous must be OFF, NORMAL, FULL or EXTRA")
        return await cls.open(path, synchronous=sync)  # type: ignore[arg-type]

    # -- reads -----------------------------------------------------------------------

    async def get(self, collection: str, doc_id: str) -> Document | None:
        check_collection(collection)
        if not await self._has_table(collection):
            return None
        sql = f"SELECT id, version, body FROM {_table(collection)} WHERE id = ?"
        rows = self._point_read(sql, (doc_id,))
        if rows is None:
            rows = await self._read(sql, (doc_id,))
        return _document(rows[0]) if rows else None

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
        check_collection(collection)
        clauses: list[str] = []
        params: list[Any] = []
        for field, value in (where or {}).items():
            check_field(field)
            check_where_value(field, value)
            clause, args = _condition(field, value)
            clauses.append(clause)
            params.extend(args)
        order = "id"
        if order_by is not None:
            check_field(order_by)
            order = f"{_expr(order_by)} {'DESC' if descending else 'ASC'}, id"
        if after is not None:
            if order_by is None:
                raise ValueError("after needs order_by")
            value, last_id = after
            check_where_value(order_by, value)
            expr = _expr(order_by)
            # The first bound lets an index on the order field range-scan.
            edge, beyond = ("<=", "<") if descending else (">=", ">")
            clauses.append(f"{expr} {edge} ? AND ({expr} {beyond} ? OR id > ?)")
            params.extend([value, value, last_id])
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        if not await self._has_table(collection):
            return []
        sql = f"SELECT id, version, body FROM {_table(collection)}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_document(row) for row in await self._read(sql, params)]

    async def pending_outbox(self, limit: int = 100) -> list[OutboxEntry]:
        sql = (
            "SELECT seq, collection, doc_id, topic, event FROM outbox"
            " WHERE published IS NULL ORDER BY seq LIMIT ?"
        )
        return _outbox_entries(await self._read(sql, (limit,)))

    async def published_outbox(
        self, since: float, *, after: int = 0, limit: int = 100
    ) -> list[OutboxEntry]:
        sql = (
            "SELECT seq, collection, doc_id, topic, event FROM outbox"
            " WHERE published IS NOT NULL AND published >= ? AND seq > ? ORDER BY seq LIMIT ?"
        )
        return _outbox_entries(await self._read(sql, (since, after, limit)))

    async def purge_published(self, before: float) -> int:
        def write(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM outbox WHERE published IS NOT NULL AND published < ?", (before,)
            )
            return int(cursor.rowcount)

        return await self._write(write)

    async def collections(self) -> list[str]:
        names: list[str] = []
        await self._load_tables()
        for collection in sorted(self._tables):
            if await self._read(f"SELECT 1 FROM {_table(collection)} LIMIT 1", ()):
                names.append(collection)
        return names

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Snapshot]:
        """Reads inside the block all see one committed state of the database (one read
        transaction); afterwards ``changed`` tells whether another connection committed
        a write meanwhile. For a store used by one task only (the transfer tool): every
        read of this store in the block shares the transaction."""
        if self._reader is None:
            raise StoreError("sqlite: an in-memory store has no snapshot")
        reader = self._reader
        snap = Snapshot()
        try:
            before = await self._read("PRAGMA data_version", ())
            await reader.execute("BEGIN")
            await self._read("SELECT 1 FROM outbox LIMIT 1", ())  # the snapshot starts here
            try:
                yield snap
            finally:
                await reader.execute("COMMIT")
            after = await self._read("PRAGMA data_version", ())
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc
        snap.changed = before != after

    async def pragma(self, name: str) -> Any:
        """The writer connection's value of PRAGMA ``name`` (e.g. ``synchronous``)."""
        if not name.isidentifier():
            raise ValueError(f"pragma {name!r}")
        rows = await self._writer.call(lambda conn: conn.execute(f"PRAGMA {name}").fetchall())
        return rows[0][0] if rows else None

    @property
    def group_commits(self) -> tuple[int, int]:
        """(physical transactions committed, logical writes committed in them)."""
        return self._writer.commits, self._writer.writes

    async def ping(self) -> None:
        if self._closed:
            raise StoreError("sqlite store is closed")
        await self._read("SELECT 1", ())

    # -- writes ----------------------------------------------------------------------
    # Each write is a function run on the writer thread inside a group's transaction
    # (its own savepoint); everything else (validation, JSON) is done before it queues.

    async def insert(
        self, collection: str, doc: Document, outbox: Sequence[OutboxMessage] = ()
    ) -> Document:
        check_collection(collection)
        doc_id = check_document(doc)
        body = _dumps(user_fields(doc))
        rows = _outbox_rows(collection, doc_id, outbox)

        def write(conn: sqlite3.Connection) -> bool:
            created = self._create_table(conn, collection)
            try:
                conn.execute(
                    f"INSERT INTO {_table(collection)} (id, version, body) VALUES (?, 1, ?)",
                    (doc_id, body),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateDocument(f"{collection}/{doc_id} already exists") from exc
            _write_outbox(conn, rows)
            return created

        if await self._write(write):
            self._tables.add(collection)
        return {**doc, VERSION: 1}

    async def replace(
        self,
        collection: str,
        doc: Document,
        *,
        expected_version: int,
        outbox: Sequence[OutboxMessage] = (),
    ) -> Document:
        check_collection(collection)
        doc_id = check_document(doc)
        body = _dumps(user_fields(doc))
        rows = _outbox_rows(collection, doc_id, outbox)

        def write(conn: sqlite3.Connection) -> None:
            updated = 0
            if self._table_exists(conn, collection):
                cursor = conn.execute(
                    f"UPDATE {_table(collection)} SET version = version + 1, body = ?"
                    " WHERE id = ? AND version = ?",
                    (body, doc_id, expected_version),
                )
                updated = cursor.rowcount
            if updated != 1:
                raise VersionConflict(
                    f"{collection}/{doc_id}: not at version {expected_version} (or missing)"
                )
            _write_outbox(conn, rows)

        await self._write(write)
        return {**doc, VERSION: expected_version + 1}

    async def ensure_index(self, collection: str, field: str, *then: str) -> None:
        check_collection(collection)
        fields = (field, *then)
        for name in fields:
            check_field(name)
        if fields == (ID,):
            return
        digest = hashlib.sha1(",".join(fields).encode()).hexdigest()[:10]
        name = f'"ix_{collection}_{digest}"'
        columns = ", ".join(_expr(f) for f in fields)

        def write(conn: sqlite3.Connection) -> bool:
            created = self._create_table(conn, collection)
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {_table(collection)} ({columns})")
            return created

        if await self._write(write):
            self._tables.add(collection)

    async def delete(
        self, collection: str, doc_id: str, *, expected_version: int | None = None
    ) -> bool:
        check_collection(collection)

        def write(conn: sqlite3.Connection) -> bool:
            if not self._table_exists(conn, collection):
                return False
            sql = f"SELECT version FROM {_table(collection)} WHERE id = ?"
            row = conn.execute(sql, (doc_id,)).fetchone()
            if row is None:
                return False
            if expected_version is not None and row[0] != expected_version:
                raise VersionConflict(
                    f"{collection}/{doc_id}: not at version {expected_version} (delete)"
                )
            pending = conn.execute(
                "SELECT 1 FROM outbox WHERE collection = ? AND doc_id = ?"
                " AND published IS NULL LIMIT 1",
                (collection, doc_id),
            ).fetchone()
            if pending is not None:
                raise OutboxPending(f"{collection}/{doc_id}: outbox messages not yet published")
            conn.execute(f"DELETE FROM {_table(collection)} WHERE id = ?", (doc_id,))
            return True

        return await self._write(write)

    async def restore(
        self, collection: str, docs: Sequence[Document], outbox: Sequence[OutboxEntry] = ()
    ) -> None:
        keys = check_restore(collection, docs, outbox)
        rows = [
            (doc_id, version, _dumps(user_fields(doc)))
            for (doc_id, version), doc in zip(keys, docs, strict=True)
        ]
        entries = [
            (e.seq, collection, e.doc_id, e.topic, _dumps(e.event.to_dict())) for e in outbox
        ]

        def write(conn: sqlite3.Connection) -> bool:
            created = self._create_table(conn, collection)
            try:
                conn.executemany(
                    f"INSERT INTO {_table(collection)} (id, version, body) VALUES (?, ?, ?)", rows
                )
            except sqlite3.IntegrityError as exc:
                taken = _first_existing(conn, collection, [key for key, _ in keys])
                raise DuplicateDocument(f"{collection}/{taken} already exists") from exc
            try:
                conn.executemany(
                    "INSERT INTO outbox (seq, collection, doc_id, topic, event)"
                    " VALUES (?, ?, ?, ?, ?)",
                    entries,
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"{collection}: an outbox seq is already stored ({exc})") from exc
            return created

        if await self._write(write):
            self._tables.add(collection)

    async def mark_published(self, entries: Sequence[OutboxEntry], *, keep: bool = True) -> None:
        if not entries:
            return
        seqs = [entry.seq for entry in entries]

        def write(conn: sqlite3.Connection) -> None:
            if keep:
                # COALESCE: marking again keeps the first time (the window counts from it).
                now = time.time()
                conn.executemany(
                    "UPDATE outbox SET published = COALESCE(published, ?) WHERE seq = ?",
                    [(now, seq) for seq in seqs],
                )
            else:
                conn.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq in seqs])

        await self._write(write)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._writer.close()  # commits what is already queued first
        if self._reader is not None:
            await self._reader.close()
        if self._point_reader is not None:
            self._point_reader.close()

    # -- internals -------------------------------------------------------------------

    async def _write(self, write: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("sqlite store is closed")
        return await self._writer.write(write)

    def _point_read(self, sql: str, params: Sequence[Any]) -> list[Any] | None:
        """A primary-key lookup on the event loop's own thread: a few cached pages, cheaper
        than the two thread hops of the reader (intake's submissions and review's case loads
        are mostly these). It never waits for a lock: busy, it answers None and the caller
        reads through the reader thread instead."""
        if self._closed:
            raise StoreError("sqlite store is closed")
        if self._point_reader is None:
            return None
        try:
            return self._point_reader.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if _locked(exc):
                return None
            raise StoreError(f"sqlite: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc

    async def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        if self._closed:
            raise StoreError("sqlite store is closed")
        if self._reader is None:
            return await self._writer.call(lambda conn: conn.execute(sql, params).fetchall())
        try:
            return list(await self._reader.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc

    async def _load_tables(self) -> None:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 4) = 'doc_'"
        rows = await self._read(sql, ())
        self._tables |= {str(name).removeprefix("doc_") for (name,) in rows}

    async def _has_table(self, collection: str) -> bool:
        if collection not in self._tables:
            # Another connection to the same file may have created it since.
            await self._load_tables()
        return collection in self._tables

    def _table_exists(self, conn: sqlite3.Connection, collection: str) -> bool:
        """On the writer thread: also sees a table created earlier in the same group."""
        if collection in self._tables:
            return True
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return conn.execute(sql, (f"doc_{collection}",)).fetchone() is not None

    def _create_table(self, conn: sqlite3.Connection, collection: str) -> bool:
        """On the writer thread; True if it ran the CREATE (the caller records the table
        as known once its write committed: a savepoint rolled back takes the table too)."""
        if collection in self._tables:
            return False
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_table(collection)} ("
            "id TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL) WITHOUT ROWID"
        )
        return True


def _point_reader(path: str) -> sqlite3.Connection:
    # busy_timeout 0: a lookup on the event loop must not wait for a lock (see _point_read).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute("PRAGMA query_only = ON")
    return conn


def _set_up(conn: sqlite3.Connection, wal: bool, synchronous: Synchronous) -> None:
    conn.execute("PRAGMA busy_timeout = 5000")
    if wal:
        _use_wal(conn)
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute(_SCHEMA)
    _migrate_outbox(conn)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (kept in the file, so once). Switching needs a moment when
    no other connection holds the file, which busy_timeout does not wait for: several
    instances opening one new file at once wait each other out here (on the writer's
    thread, so sleeping there blocks nobody else)."""
    for attempt in Retrying(
        retry=retry_if_exception(_locked),
        stop=stop_after_delay(15),
        wait=wait_random(0.01, 0.2),
        reraise=True,
    ):
        with attempt:
            row = conn.execute("PRAGMA journal_mode").fetchone()
            if row is None or str(row[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")


def _migrate_outbox(conn: sqlite3.Connection) -> None:
    """Add the ``published`` column to an outbox table made before history was kept."""
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(outbox)").fetchall()}
    if "published" not in columns:
        try:
            conn.execute("ALTER TABLE outbox ADD COLUMN published REAL")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another instance added it meanwhile
                raise
    for sql in _INDEXES:
        conn.execute(sql)


def _outbox_entries(rows: Sequence[Any]) -> list[OutboxEntry]:
    return [
        OutboxEntry(
            collection=str(collection),
            doc_id=str(doc_id),
            topic=str(topic),
            event=CloudEvent.from_dict(json.loads(event)),
            seq=int(seq),
        )
        for seq, collection, doc_id, topic, event in rows
    ]


def _locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def _outbox_rows(
    collection: str, doc_id: str, outbox: Sequence[OutboxMessage]
) -> list[tuple[str, str, str, str]]:
    return [(collection, doc_id, m.topic, _dumps(m.event.to_dict())) for m in outbox]


def _write_outbox(conn: sqlite3.Connection, rows: list[tuple[str, str, str, str]]) -> None:
    if rows:
        conn.executemany(
            "INSERT INTO outbox (collection, doc_id, topic, event) VALUES (?, ?, ?, ?)", rows
        )


def _first_existing(conn: sqlite3.Connection, collection: str, ids: list[str]) -> str:
    sql = f"SELECT 1 FROM {_table(collection)} WHERE id = ?"
    for doc_id in ids:
        if conn.execute(sql, (doc_id,)).fetchone() is not None:
            return doc_id
    return "?"  # the duplicate was inside ``ids`` itself, which check_restore refuses


def _condition(field: str, value: Any) -> tuple[str, list[Any]]:
    expr = _expr(field)
    # Column affinity would let 5 match the id "5" and True the version 1; Mongo does not.
    if field == ID:
        return ("id = ?", [value]) if isinstance(value, str) else ("0", [])
    if field == VERSION:
        plain_number = isinstance(value, int | float) and not isinstance(value, bool)
        return ("version = ?", [value]) if plain_number else ("0", [])
    if value is None:
        return (f"{expr} IS NULL", [])
    type_expr = f"json_type(body, '$.{field}')"
    # json_extract maps true to 1 and returns arrays/objects as text: check the JSON type.
    if isinstance(value, bool):
        return (f"{expr} = ? AND {type_expr} = ?", [int(value), "true" if value else "false"])
    if isinstance(value, int | float):
        return (f"{expr} = ? AND {type_expr} IN ('integer', 'real')", [value])
    return (f"{expr} = ? AND {type_expr} = 'text'", [value])


def _document(row: Any) -> Document:
    doc_id, version, body = row
    doc: Document = {ID: doc_id, VERSION: version}
    doc.update(json.loads(body))
    return doc

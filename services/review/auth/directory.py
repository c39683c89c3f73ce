"""The staff directory in review's store, shared by every instance of the service.

One document per staff member in `staff` (`_id` = staff id), changed only by
version-checked writes, so two instances changing one member both land. Each change
carries its `staff_changes` audit entry inside the member document (the same write),
is then copied to `staff_changes` under the entry's own id (idempotent), and bumps the
`staff_meta` document; `reconcile` at start-up copies entries a crash left behind and
bumps once (a crash between a write and its bump).

Each instance keeps the directory in memory (`LiveStaff`) and reloads it when
`staff_meta`'s version moved, checking at most every `refresh_seconds` and at once after
a change of its own: a member disabled or a token revoked on one instance is refused by
the others within that interval.

The YAML staff file only seeds an empty store; the store is the truth afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from casework.contract import AwareDatetime
from casework.errors import Kind, Rejected
from casework.policy import Policy
from casework.store import Document, DocumentStore, DuplicateDocument, OutboxMessage
from casework.updates import NotFound, update_document
from services.review.adapters.staff_file import load_staff
from services.review.domain.staff import StaffDirectory, StaffMember, policy_problem

log = logging.getLogger(__name__)

STAFF = "staff"
STAFF_META = "staff_meta"
STAFF_CHANGES = "staff_changes"
META_ID = "directory"
RECENT = "recent_changes"  # the last few audit entries, kept in the member document
KEEP_RECENT = 10
Clock = Callable[[], datetime]


class StaffChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    actor: str
    target: str
    change: str
    detail: str = ""


def _entry(change: StaffChange) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, **change.model_dump(mode="json")}


def member_of(doc: Document) -> StaffMember:
    return StaffMember.model_validate(
        {k: v for k, v in doc.items() if not k.startswith("_") and k != RECENT}
    )


def _fields(member: StaffMember) -> Document:
    return member.model_dump(mode="json", exclude_none=True)


def _not_found(staff_id: str) -> Rejected:
    return Rejected.one(
        Kind.NOT_FOUND, "not_found", "staff_id", "exists", f"no staff member {staff_id!r}"
    )


def _check(member: StaffMember, policy: Policy) -> None:
    problem = policy_problem(member, policy)
    if problem is not None:
        field, message = problem
        raise Rejected.one(Kind.INVALID, "validation_failed", field, "policy", message)


class StaffRecords:
    """Reads and version-checked writes of the stored directory."""

    def __init__(self, store: DocumentStore, policy: Policy, clock: Clock) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock

    async def prepare(self) -> None:
        await self.store.ensure_index(STAFF_CHANGES, "at")

    async def members(self) -> list[StaffMember]:
        found: list[StaffMember] = []
        for doc in await self.store.find(STAFF, order_by="_id"):
            try:
                member = member_of(doc)
            except ValidationError:
                log.exception("stored staff member %r is invalid; left out", doc.get("_id"))
                continue
            problem = policy_problem(member, self.policy)
            if problem is not None:
                log.warning("staff member %r: %s: %s", member.id, *problem)
            found.append(member)
        return found

    async def get(self, staff_id: str) -> StaffMember | None:
        doc = await self.store.get(STAFF, staff_id)
        return None if doc is None else member_of(doc)

    async def revision(self) -> int:
        """Moves with every change of the directory (the meta document's version)."""
        doc = await self.store.get(STAFF_META, META_ID)
        return 0 if doc is None else int(doc["_version"])

    async def add(self, member: StaffMember, actor: str, change: str, detail: str) -> None:
        """Store a new member; an existing id is refused (409) and nothing changes."""
        _check(member, self.policy)
        entry = _entry(self._change(actor, member.id, change, detail))
        try:
            await self.store.insert(STAFF, {"_id": member.id, **_fields(member), RECENT: [entry]})
        except DuplicateDocument:
            raise Rejected.one(
                Kind.CONFLICT, "exists", "id", "unique", f"staff {member.id!r} already exists"
            ) from None
        await self._logged(entry)

    async def change(
        self,
        staff_id: str,
        edit: Callable[[StaffMember], StaffMember],
        actor: str,
        change: str,
        detail: str,
    ) -> StaffMember:
        """Apply ``edit`` (pure: it may run again on a newer member after a concurrent
        write) and store the result with its audit entry in one version-checked write."""
        entry = _entry(self._change(actor, staff_id, change, detail))

        def apply(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            updated = StaffMember.model_validate(edit(member_of(doc)).model_dump())
            _check(updated, self.policy)
            recent = [*doc.get(RECENT, []), entry][-KEEP_RECENT:]
            kept = {"_id": doc["_id"], "_version": doc["_version"]}
            return {**kept, **_fields(updated), RECENT: recent}, []

        try:
            stored = await update_document(self.store, STAFF, staff_id, apply, attempts=20)
        except NotFound:
            raise _not_found(staff_id) from None
        await self._logged(entry)
        return member_of(stored)

    async def record(self, actor: str, target: str, change: str, detail: str) -> None:
        """An audit entry for something that is not a change of a member (a link issued)."""
        entry = _entry(self._change(actor, target, change, detail))
        await self._insert_entry(entry)

    async def seed(self, path: Path) -> int:
        """Import the staff file if the store holds no staff yet; how many were added.
        Idempotent: instances seeding at once each add what the other did not."""
        if await self.store.find(STAFF, limit=1):
            return 0
        directory = load_staff(path, self.policy)
        added = 0
        for member in [self._stamped(m, path) for m in directory.staff]:
            try:
                await self.store.insert(STAFF, {"_id": member.id, **_fields(member), RECENT: []})
            except DuplicateDocument:
                continue
            added += 1
        if added:
            await self.record("seed", "*", "seeded", f"{added} from {path.name}")
            await self._bump()
        return added

    async def import_file(self, path: Path, actor: str, replace: bool) -> tuple[int, int]:
        """Import a staff file: (added, replaced). Without ``replace`` a file naming a
        member already stored is refused whole, before anything is written."""
        directory = load_staff(path, self.policy)
        existing = {m.id for m in directory.staff if await self.get(m.id) is not None}
        if existing and not replace:
            raise Rejected.one(
                Kind.CONFLICT,
                "exists",
                "id",
                "unique",
                f"already stored: {', '.join(sorted(existing))} (--replace overwrites them)",
            )
        added = replaced = 0
        for member in [self._stamped(m, path) for m in directory.staff]:
            if member.id in existing:
                await self.change(member.id, _replaced_by(member), actor, "replaced", path.name)
                replaced += 1
            else:
                await self.add(member, actor, "imported", path.name)
                added += 1
        return added, replaced

    async def reconcile(self) -> int:
        """Copy audit entries a crash left only in member documents; how many. Bumps the
        revision either way, so every instance re-reads once: a change whose own bump a
        crash prevented reaches them when the crashed instance starts again."""
        copied = 0
        for doc in await self.store.find(STAFF, order_by="_id"):
            for entry in doc.get(RECENT, []):
                if await self.store.get(STAFF_CHANGES, entry["id"]) is None:
                    await self._insert_entry(entry)
                    copied += 1
        await self._bump()
        return copied

    def _stamped(self, member: StaffMember, path: Path) -> StaffMember:
        """A staff file's tokens become directory entries made now, from that file."""
        now = self.clock()
        tokens = [
            t
            if t.created_at is not None
            else t.model_copy(update={"created_at": now, "created_by": f"file {path.name}"})
            for t in member.tokens
        ]
        return member.model_copy(update={"tokens": tokens})

    def _change(self, actor: str, target: str, change: str, detail: str) -> StaffChange:
        return StaffChange(
            at=self.clock(), actor=actor, target=target, change=change, detail=detail
        )

    async def _logged(self, entry: dict[str, Any]) -> None:
        await self._insert_entry(entry)
        await self._bump()

    async def _insert_entry(self, entry: dict[str, Any]) -> None:
        fields = {k: v for k, v in entry.items() if k != "id"}
        try:
            await self.store.insert(STAFF_CHANGES, {"_id": entry["id"], **fields})
        except DuplicateDocument:
            pass  # copied already

    async def _bump(self) -> None:
        def bump(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            return {**doc, "changes": int(doc.get("changes", 0)) + 1}, []

        for _ in range(3):
            try:
                await update_document(self.store, STAFF_META, META_ID, bump, attempts=50)
                return
            except NotFound:
                try:
                    await self.store.insert(STAFF_META, {"_id": META_ID, "changes": 1})
                    return
                except DuplicateDocument:
                    continue  # another instance made it first: bump that one


def _replaced_by(member: StaffMember) -> Callable[[StaffMember], StaffMember]:
    return lambda _: member


# A change whose counter bump was lost to a crash is still picked up within this bound.
FULL_RELOAD_SECONDS = 60.0


class LiveStaff:
    """The directory as this instance sees it: in memory, reloaded when it changed (the
    ``staff_meta`` counter moved) and in any case every ``FULL_RELOAD_SECONDS``."""

    def __init__(
        self,
        records: StaffRecords,
        refresh_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.records = records
        self.refresh_seconds = refresh_seconds
        self.monotonic = monotonic
        self._directory: StaffDirectory | None = None
        self._revision = -1
        self._checked = float("-inf")
        self._loaded = float("-inf")
        self._lock = asyncio.Lock()

    async def load(self) -> StaffDirectory:
        """Read the directory now (at start and right after a change of our own)."""
        async with self._lock:
            return await self._load()

    async def _load(self) -> StaffDirectory:
        # The revision first: a change landing in between makes the next check reload.
        revision = await self.records.revision()
        members = await self.records.members()
        self._directory = StaffDirectory.model_construct(staff=members)
        self._revision = revision
        self._checked = self._loaded = self.monotonic()
        return self._directory

    def current(self) -> StaffDirectory:
        """The directory as last loaded (requests get it refreshed by `fresh`)."""
        if self._directory is None:
            raise RuntimeError("LiveStaff.load() was not awaited")
        return self._directory

    async def fresh(self) -> StaffDirectory:
        """The directory, reloaded first if the interval passed and it changed."""
        directory = self._directory
        if directory is not None and self.monotonic() - self._checked < self.refresh_seconds:
            return directory
        async with self._lock:
            due = self.monotonic() - self._checked >= self.refresh_seconds
            if due or self._directory is None:
                stale = self.monotonic() - self._loaded >= FULL_RELOAD_SECONDS
                if stale or await self.records.revision() != self._revision:
                    return await self._load()
                self._checked = self.monotonic()
        return self.current()


async def open_directory(
    store: DocumentStore,
    policy: Policy,
    seed_file: Path,
    refresh_seconds: float,
    clock: Clock,
) -> LiveStaff:
    """Start-up: finish interrupted audit copies, seed an empty store, load."""
    records = StaffRecords(store, policy, clock)
    await records.prepare()
    await records.reconcile()
    seeded = await records.seed(seed_file)
    if seeded:
        log.info("staff directory seeded from %s: %d members", seed_file, seeded)
    staff = LiveStaff(records, refresh_seconds)
    await staff.load()
    return staff

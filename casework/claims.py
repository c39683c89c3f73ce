"""Claims: one live instance at a time does an effect that must not be done twice.

An email sent or a text appended to a wiki page cannot be taken back, and doing it again
is not harmless. Per-case locks keep one process from doing such an effect twice at once,
but two instances can both be handling the same event: a consumer whose group membership
lapsed (a missed heartbeat on a busy machine) goes on with the records in hand while the
partition's new owner reads them again, and the reconciliation duty of one instance may
feed an event the owner's consumer is about to handle.

So the document that records the effect (a delivery record, an operation) is also its
claim: it names the ``holder`` (the instance, stable across its restarts) and
``claimed_until``. Whoever finds it unfinished and claimed by another live holder does not
act and raises :class:`HeldElsewhere`: the consumer reads the event again later without
counting an attempt, and the reconciliation duty looks again on its next pass. A claim
whose holder stopped renewing it (killed) is taken over once it has run out, by a
version-checked write, so two instances can never both take it; the taker is told it
``resumed`` someone's work and checks what was already done (the wiki's own record of the
role account's edits; an email is sent again with the same Message-ID).

While the effect runs, :func:`kept` renews the claim every third of its length. A holder
paused for longer than the claim's length (not merely slow) can still race its successor;
the length is the instances' lease length (``CASEWORK_LEASE_SECONDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from casework.store import Document, DocumentStore, DuplicateDocument, VersionConflict

log = logging.getLogger(__name__)

HOLDER = "holder"
UNTIL = "claimed_until"

Clock = Callable[[], float]
Finished = Callable[[Document], bool]


class HeldElsewhere(Exception):
    """Another live instance is doing this effect now: try again later (not a failure)."""

    def __init__(self, collection: str, doc_id: str, holder: str) -> None:
        super().__init__(f"{collection}/{doc_id} is being done by {holder}")
        self.collection = collection
        self.doc_id = doc_id
        self.holder = holder


@dataclass(frozen=True)
class Claimant:
    """This instance, as it signs its claims."""

    holder: str
    seconds: float
    clock: Clock = time.time

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ValueError("claim seconds must be > 0")

    @classmethod
    def this_process(cls, seconds: float = 15.0) -> Claimant:
        """For a service built without settings (tests, tools): this host and process."""
        return cls(f"{socket.gethostname()}:{os.getpid()}", seconds)

    def stamp(self) -> dict[str, Any]:
        return {HOLDER: self.holder, UNTIL: self.clock() + self.seconds}


@dataclass(frozen=True)
class Claim:
    doc: Document
    resumed: bool  # someone (this instance before a restart, or a dead one) began it before
    finished: bool  # done already: do nothing


async def claim(
    store: DocumentStore,
    collection: str,
    doc_id: str,
    fields: dict[str, Any],
    claimant: Claimant,
    *,
    finished: Finished,
) -> Claim:
    """Create the record claimed by ``claimant``, or take over an unfinished one whose
    claim is this instance's or has run out; HeldElsewhere while another holds it."""
    try:
        created = await store.insert(collection, {"_id": doc_id, **fields, **claimant.stamp()})
        return Claim(created, resumed=False, finished=False)
    except DuplicateDocument:
        pass
    doc = await store.get(collection, doc_id)
    if doc is None:  # deleted in between: nothing to take over, begin again
        return await claim(store, collection, doc_id, fields, claimant, finished=finished)
    if finished(doc):
        return Claim(doc, resumed=True, finished=True)
    holder = str(doc.get(HOLDER) or "")
    if holder and holder != claimant.holder and float(doc.get(UNTIL) or 0) > claimant.clock():
        raise HeldElsewhere(collection, doc_id, holder)
    try:
        taken = await store.replace(
            collection, {**doc, **claimant.stamp()}, expected_version=doc["_version"]
        )
    except VersionConflict as exc:
        raise HeldElsewhere(collection, doc_id, "another instance") from exc
    if holder and holder != claimant.holder:
        log.info("%s/%s: claim of %s ran out; taken over", collection, doc_id, holder)
    return Claim(taken, resumed=True, finished=False)


@contextlib.asynccontextmanager
async def kept(
    store: DocumentStore, collection: str, doc_id: str, claimant: Claimant, *, finished: Finished
) -> AsyncIterator[None]:
    """Renew the claim on ``doc_id`` every third of its length while the body runs."""
    task = asyncio.create_task(_renew(store, collection, doc_id, claimant, finished))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _renew(
    store: DocumentStore, collection: str, doc_id: str, claimant: Claimant, finished: Finished
) -> None:
    while True:
        await asyncio.sleep(claimant.seconds / 3)
        doc = await store.get(collection, doc_id)
        if doc is None or finished(doc) or doc.get(HOLDER) != claimant.holder:
            return
        try:
            await store.replace(
                collection, {**doc, **claimant.stamp()}, expected_version=doc["_version"]
            )
        except VersionConflict:
            continue  # written meanwhile (finished, most likely): look again
        except Exception:
            log.exception("%s/%s: renewing the claim failed", collection, doc_id)


def _never(doc: Document) -> bool:
    return False


@contextlib.asynccontextmanager
async def working_on(
    store: DocumentStore, collection: str, doc_id: str, claimant: Claimant
) -> AsyncIterator[Claim]:
    """Claim ``doc_id`` (a record of its own in ``collection``) for the body's duration,
    renewing it, and give it up after: one live instance at a time does this work.
    HeldElsewhere while another does."""
    taken = await claim(store, collection, doc_id, {}, claimant, finished=_never)
    try:
        async with kept(store, collection, doc_id, claimant, finished=_never):
            yield taken
    finally:
        try:
            await _release(store, collection, doc_id, claimant)
        except Exception:  # it runs out by itself
            log.exception("%s/%s: giving up the claim failed", collection, doc_id)


async def _release(store: DocumentStore, collection: str, doc_id: str, claimant: Claimant) -> None:
    for _ in range(3):
        doc = await store.get(collection, doc_id)
        if doc is None or doc.get(HOLDER) != claimant.holder:
            return
        try:
            await store.replace(collection, {**doc, UNTIL: 0.0}, expected_version=doc["_version"])
            return
        except VersionConflict:
            continue  # our own renewal wrote meanwhile: look again

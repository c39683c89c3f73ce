"""Delivery records: one document per message, keyed by its idempotency key.

States: `sending` (recorded before the SMTP call, with the Message-ID derived
from the key), then `sent`, `failed`, `skipped` or `withheld`. A record in a
final state is never acted on again; a `sending` record found after a crash is
sent again with the same Message-ID, so a receiving system can drop the copy.
The NotificationSent / NotificationFailed event is written with the final
state, in the same store write (outbox).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from casework.claims import Claim, Claimant, claim, kept
from casework.contract import (
    Audience,
    EventData,
    NotificationFailed,
    NotificationSent,
    to_cloudevent,
    topic_for,
    topic_of,
)
from casework.store import (
    Document,
    DocumentStore,
    DuplicateDocument,
    OutboxMessage,
    OutboxPending,
)
from casework.updates import update_document

DELIVERIES = "deliveries"
FINAL = frozenset({"sent", "failed", "skipped", "withheld"})
# The channel of the public-level events (the transparency portal's topic).
PORTAL = "portal"
MESSAGE_ID_DOMAIN = "officeactions.casework"


def idempotency_key(case_id: str, audience: Audience | str, channel: str, version: str) -> str:
    """One message: which case, to whom, how, for which decision revision (or event)."""
    return f"{case_id}:{audience}:{channel}:{version}"


def recipient_tag(address: str) -> str:
    """A recipient named in a key without its address: a digest of the address."""
    return "to-" + hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]


def functionary_channel(wiki: str, address: str) -> str:
    """The channel of one functionary's brief: the wiki and the recipient's tag."""
    return f"email-{wiki}-{recipient_tag(address)}"


# Keys written before keys carried no addresses: `case:functionaries:email-<wiki>-<address>:rN`.
_ADDRESS_KEY = re.compile(
    r"^(?P<head>[^:]+:functionaries:)email-(?P<rest>[^:@]+@[^:]+):(?P<v>[^:]+)$"
)


def address_free_key(key: str, wikis: Collection[str] = ()) -> str | None:
    """The key an old address-bearing key has now, or None for a key naming no address.
    ``wikis`` (the functionaries file's) settle where a hyphenated wiki id ends."""
    match = _ADDRESS_KEY.match(key)
    if match is None:
        return None
    rest = match["rest"]
    for wiki in sorted(wikis, key=len, reverse=True):
        if rest.startswith(f"{wiki}-"):
            address = rest[len(wiki) + 1 :]
            break
    else:
        wiki, _, address = rest.partition("-")
    return f"{match['head']}{functionary_channel(wiki, address)}:{match['v']}"


def message_id(key: str) -> str:
    """Derived from the key alone, so a re-send after a crash carries the same Message-ID."""
    case = re.sub(r"[^A-Za-z0-9-]+", "", key.split(":", 1)[0])[:24]
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    # Short enough that the header is never folded.
    return f"<{case}.{digest}@{MESSAGE_ID_DOMAIN}>"


def _announced(
    case_id: str,
    audience: Audience,
    channel: str,
    state: str,
    reference: str,
    now: datetime,
    *,
    attempts: int,
    permanent: bool,
) -> list[OutboxMessage]:
    """The NotificationSent / NotificationFailed a final state is written with (if any)."""
    outbox: list[OutboxMessage] = []
    if state == "sent":
        sent = NotificationSent(
            case_id=case_id,
            audience=audience,
            channel=channel,
            reference=reference,
            sent_at=now,
        )
        outbox.append(OutboxMessage(topic_of("notify"), to_cloudevent(sent)))
    elif state == "failed":
        failed = NotificationFailed(
            case_id=case_id,
            audience=audience,
            channel=channel,
            reason=reference,
            permanent=permanent,
            attempt=attempts,
            failed_at=now,
        )
        outbox.append(OutboxMessage(topic_of("notify"), to_cloudevent(failed)))
    return outbox


def finished(doc: Document) -> bool:
    return doc.get("state") in FINAL


class Deliveries:
    """The records; a ``sending`` record is also the claim of the instance sending it
    (casework.claims), so two instances handling one event never both send."""

    def __init__(self, store: DocumentStore, claimant: Claimant | None = None) -> None:
        self.store = store
        self.claimant = claimant or Claimant.this_process()

    async def get(self, key: str) -> Document | None:
        return await self.store.get(DELIVERIES, key)

    async def begin(self, key: str, fields: dict[str, Any]) -> Claim:
        """The record for `key`, created in state `sending` if there was none, claimed by
        this instance; HeldElsewhere while another instance is sending it."""
        return await claim(
            self.store,
            DELIVERIES,
            key,
            fields | {"state": "sending"},
            self.claimant,
            finished=finished,
        )

    def kept(self, key: str) -> AbstractAsyncContextManager[None]:
        """Keep the claim on `key` while sending takes long."""
        return kept(self.store, DELIVERIES, key, self.claimant, finished=finished)

    async def finish(
        self,
        key: str,
        *,
        case_id: str,
        audience: Audience,
        channel: str,
        state: str,
        reference: str,
        now: datetime,
        attempts: int = 1,
        permanent: bool = False,
    ) -> None:
        assert state in FINAL
        outbox = _announced(
            case_id,
            audience,
            channel,
            state,
            reference,
            now,
            attempts=attempts,
            permanent=permanent,
        )

        def change(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            if doc.get("state") in FINAL:
                return doc, []
            updated = {
                **doc,
                "state": state,
                "reference": reference,
                "attempts": attempts,
                "permanent": permanent,
                "finished_at": now.isoformat(),
            }
            return updated, outbox

        try:
            await update_document(self.store, DELIVERIES, key, change)
        except LookupError:
            await self.store.insert(
                DELIVERIES,
                {
                    "_id": key,
                    "case_id": case_id,
                    "audience": str(audience),
                    "channel": channel,
                    "state": state,
                    "reference": reference,
                    "attempts": attempts,
                    "permanent": permanent,
                    "finished_at": now.isoformat(),
                },
                outbox=outbox,
            )

    async def publish(
        self, key: str, *, case_id: str, events: Sequence[EventData], now: datetime
    ) -> bool:
        """The public-level ``events`` (on their topic, casework.contract.public) written
        with their record under ``key``, in one store write; False when the record was
        there already (nothing written: a redelivered event publishes nothing twice)."""
        outbox = [OutboxMessage(topic_for(type(e)), to_cloudevent(e)) for e in events]
        try:
            await self.store.insert(
                DELIVERIES,
                {
                    "_id": key,
                    "case_id": case_id,
                    "audience": str(Audience.PUBLIC),
                    "channel": PORTAL,
                    "state": "sent",
                    "reference": ", ".join(e.TYPE for e in events),
                    "attempts": 1,
                    "permanent": False,
                    "finished_at": now.isoformat(),
                },
                outbox=outbox,
            )
        except DuplicateDocument:
            return False
        return True

    async def rekey_addresses(self, wikis: Collection[str] = ()) -> int:
        """Move records stored under address-bearing keys to their address-free keys (at
        start-up, before any event is handled), so a redelivered event still finds its
        record and sends nothing twice. A record whose events are not yet published
        keeps its old copy until a later start; the new key is written either way."""
        moved = 0
        for doc in await self.store.find(
            DELIVERIES, {"audience": str(Audience.FUNCTIONARIES)}, order_by="_id"
        ):
            new_key = address_free_key(doc["_id"], wikis)
            if new_key is None:
                continue
            fields = {k: v for k, v in doc.items() if not k.startswith("_")}
            try:
                await self.store.insert(DELIVERIES, {"_id": new_key, **fields})
            except DuplicateDocument:
                pass
            try:
                await self.store.delete(DELIVERIES, doc["_id"])
            except OutboxPending:
                continue
            moved += 1
        return moved

    async def of_case(self, case_id: str) -> list[Document]:
        return await self.store.find(DELIVERIES, {"case_id": case_id}, order_by="_id")

    async def unfinished(self) -> list[Document]:
        return await self.store.find(DELIVERIES, {"state": "sending"}, order_by="_id")

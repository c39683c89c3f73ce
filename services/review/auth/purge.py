"""The purge duty: removes expired console sessions, the sign-in throttle's old
counters, and expired pending OIDC sign-ins and sign-off drafts. Each document carries
`purge_at` (a sortable UTC key, indexed); a pass deletes everything due by now in pages,
oldest first. Its pass is `purge`; app.py runs it every `access.purge_seconds`
(casework.periodic)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from casework.store import Document, DocumentStore, VersionConflict
from services.review.auth.pending import PENDING_LOGINS, SIGNOFF_DRAFTS
from services.review.auth.sessions import SESSIONS
from services.review.auth.throttle import THROTTLE
from services.review.domain.case import sort_key

PAGE = 200
PURGED = (SESSIONS, THROTTLE, PENDING_LOGINS, SIGNOFF_DRAFTS)


def _expiry(doc: Document, now: datetime) -> datetime:
    raw = doc.get("expires_at")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else now


class Purge:
    def __init__(self, store: DocumentStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self.purged = 0

    async def prepare(self) -> None:
        for collection in PURGED:
            await self.store.ensure_index(collection, "purge_at")

    async def purge(self) -> int:
        """Delete every session and counter due by now; return how many went."""
        now = self.clock()
        horizon = sort_key(now)
        removed = 0
        for collection in PURGED:
            while True:
                docs = await self.store.find(collection, order_by="purge_at", limit=PAGE)
                done = 0
                for doc in docs:
                    key = doc.get("purge_at") or sort_key(_expiry(doc, now))
                    if key > horizon and doc.get("purge_at"):
                        break  # in purge_at order: nothing after this is due
                    try:
                        if key <= horizon:
                            removed += await self.store.delete(
                                collection, doc["_id"], expected_version=doc["_version"]
                            )
                        else:  # from before purge_at was kept: give it one
                            await self.store.replace(
                                collection,
                                {**doc, "purge_at": key},
                                expected_version=doc["_version"],
                            )
                    except VersionConflict:
                        break  # changed meanwhile (signed out, counted): the next pass
                    done += 1
                if done < len(docs) or len(docs) < PAGE:
                    break
        self.purged += removed
        return removed

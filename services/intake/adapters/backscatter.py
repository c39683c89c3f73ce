"""At most one answer to incomplete mail per address in a rolling window, kept in the store.

A forged mail names someone else as its sender; each answer to it lands in that person's
mailbox (backscatter). One document per address (hashed, not stored) holds when it was
last answered; instances on one store share it, and a version check settles two racing.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from casework.store import DocumentStore, DuplicateDocument, VersionConflict

ANSWERED = "answered_addresses"


class AnswerWindow:
    def __init__(self, store: DocumentStore, window_seconds: int) -> None:
        self.store = store
        self.window = timedelta(seconds=window_seconds)

    async def claim(self, address: str, now: datetime) -> bool:
        """True when ``address`` may be answered now (and that answer is recorded); False
        when it was answered within the window, or another instance just claimed it."""
        doc_id = "a-" + hashlib.sha256(address.casefold().encode()).hexdigest()[:40]
        stored = await self.store.get(ANSWERED, doc_id)
        try:
            if stored is None:
                await self.store.insert(ANSWERED, {"_id": doc_id, "at": now.isoformat()})
                return True
            if now - datetime.fromisoformat(stored["at"]) < self.window:
                return False
            stored["at"] = now.isoformat()
            await self.store.replace(ANSWERED, stored, expected_version=stored["_version"])
            return True
        except (DuplicateDocument, VersionConflict):
            return False

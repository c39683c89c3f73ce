"""The key references are derived from, kept in the store, and the idempotency records of
intakes from before references came from keys.

A keyed submission's reference is an HMAC of its claim under the store's own key: the same
for every retry and instance, unguessable without that key (so not predictable from a
client's Idempotency-Key). The first instance that needs the key makes it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

from casework.store import Document, DocumentStore, DuplicateDocument

IDEMPOTENCY = "idempotency"  # written by intakes before references came from keys
KEYS = "intake_keys"
REFERENCE_KEY = "reference"


class ReferenceKeys:
    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self._key: bytes | None = None
        self._key_lock = asyncio.Lock()
        self._legacy_claims = True  # until the key is loaded and the store looked at

    async def keyed_reference(self, claim_id: str) -> str:
        """The reference a key's submission gets: the same for every retry and instance,
        unguessable without the store's own key (so not predictable from a client's key)."""
        key = await self.reference_key()
        digest = hmac.new(key, claim_id.encode(), hashlib.sha256).digest()
        return "R-" + base64.b32encode(digest).decode()[:12]

    async def reference_key(self) -> bytes:
        """The store's reference key, made by the first instance that needs it."""
        if self._key is not None:
            return self._key
        async with self._key_lock:
            if self._key is None:
                stored = await self.store.get(KEYS, REFERENCE_KEY)
                if stored is None:
                    try:
                        stored = await self.store.insert(
                            KEYS, {"_id": REFERENCE_KEY, "key": secrets.token_hex(32)}
                        )
                    except DuplicateDocument:  # another instance made it first
                        stored = await self.store.get(KEYS, REFERENCE_KEY)
                        assert stored is not None
                # Keys claimed by an intake from before (one record per key) are honoured.
                self._legacy_claims = bool(await self.store.find(IDEMPOTENCY, limit=1))
                self._key = bytes.fromhex(stored["key"])
            return self._key

    async def legacy_claim(self, claim_id: str) -> Document | None:
        """An earlier intake's record of this claim (None when there are no such records)."""
        if not self._legacy_claims:
            return None
        return await self.store.get(IDEMPOTENCY, claim_id)

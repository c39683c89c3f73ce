"""When each API token was last used, kept apart from the staff directory so that using
a token never rewrites (and reloads) the directory.

One small document per token (`_id` = the token's SHA-256, as the directory keeps it),
written at most once per ``every`` seconds per token by each instance: "last used" is
exact to that interval, and a busy script costs one write a minute, not one a request.
A failure to record is logged and never refuses the request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from casework.store import DocumentStore, DuplicateDocument, StoreError, VersionConflict

log = logging.getLogger(__name__)

TOKEN_USES = "token_uses"


class TokenUses:
    def __init__(
        self,
        store: DocumentStore,
        every: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.every = every
        self.monotonic = monotonic
        self._noted: dict[str, float] = {}

    async def used(self, digest: str, staff_id: str, name: str, at: datetime) -> None:
        """Record a use of the token with this SHA-256 (at most once per interval)."""
        now = self.monotonic()
        last = self._noted.get(digest)
        if last is not None and now - last < self.every:
            return
        self._noted[digest] = now
        fields = {"staff_id": staff_id, "name": name, "last_used_at": at.isoformat()}
        try:
            stored = await self.store.get(TOKEN_USES, digest)
            if stored is None:
                await self.store.insert(TOKEN_USES, {"_id": digest, **fields})
            elif stored.get("last_used_at", "") < fields["last_used_at"]:
                await self.store.replace(
                    TOKEN_USES,
                    {"_id": digest, **fields},
                    expected_version=stored["_version"],
                )
        except (DuplicateDocument, VersionConflict):
            pass  # another instance recorded a use at the same moment
        except StoreError:
            log.warning("could not record a use of %s's token %r", staff_id, name, exc_info=True)

    async def last_used(self, digests: list[str]) -> dict[str, datetime]:
        """The last recorded use of each of these tokens (absent: never used)."""
        found: dict[str, datetime] = {}
        for digest in digests:
            doc = await self.store.get(TOKEN_USES, digest)
            if doc is not None and isinstance(doc.get("last_used_at"), str):
                found[digest] = datetime.fromisoformat(doc["last_used_at"])
        return found

    async def forget(self, digest: str) -> None:
        """Drop the record of a revoked token."""
        self._noted.pop(digest, None)
        doc = await self.store.get(TOKEN_USES, digest)
        if doc is not None:
            try:
                await self.store.delete(TOKEN_USES, digest, expected_version=doc["_version"])
            except VersionConflict:
                pass  # used at the same moment: the next revoke-less pass leaves it; harmless

"""The sign-in throttle: failed console sign-ins counted per account and per client
address in fixed windows (limits from the policy's `access.sign_in`).

Counters live in the store, so they hold across restarts and every review instance;
keys are hashed, not stored. A throttled attempt does not check the password at all,
so guessing stops at the limit. Old windows' counters are removed by the purge duty.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from casework.policy.access import Limit, SignInLimits
from casework.store import DocumentStore, DuplicateDocument, VersionConflict
from services.review.case import sort_key

THROTTLE = "sign_in_throttle"


class Throttled(Exception):
    """Too many failed sign-ins for ``scope`` ("account" or "client")."""

    def __init__(self, scope: str, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins for this {scope}")
        self.scope = scope
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Window:
    scope: str
    doc_id: str
    limit: Limit
    ends: datetime


def _window(scope: str, key: str, limit: Limit, now: datetime) -> _Window:
    index = int(now.timestamp() // limit.per_seconds)
    digest = hashlib.sha256(f"{scope}:{key.casefold()}".encode()).hexdigest()[:32]
    ends = datetime.fromtimestamp((index + 1) * limit.per_seconds, UTC)
    return _Window(scope, f"{scope}-{digest}-{index}", limit, ends)


class SignInThrottle:
    def __init__(self, store: DocumentStore, limits: SignInLimits) -> None:
        self.store = store
        self.limits = limits

    async def prepare(self) -> None:
        await self.store.ensure_index(THROTTLE, "purge_at")

    def _windows(self, login: str, client: str | None, now: datetime) -> list[_Window]:
        windows = [_window("account", login, self.limits.per_account, now)]
        if client:
            windows.append(_window("client", client, self.limits.per_client, now))
        return windows

    async def check(self, *, login: str, client: str | None, now: datetime) -> None:
        """Raise Throttled if this account or client used up its failed attempts."""
        for window in self._windows(login, client, now):
            stored = await self.store.get(THROTTLE, window.doc_id)
            if stored is not None and stored["failures"] >= window.limit.max:
                retry_after = max(1.0, (window.ends - now).total_seconds())
                raise Throttled(window.scope, retry_after)

    async def failed(self, *, login: str, client: str | None, now: datetime) -> None:
        """Count one failed sign-in against the account and the client."""
        for window in self._windows(login, client, now):
            await self._increment(window)

    async def _increment(self, window: _Window) -> None:
        for _ in range(20):
            stored = await self.store.get(THROTTLE, window.doc_id)
            try:
                if stored is None:
                    await self.store.insert(
                        THROTTLE,
                        {
                            "_id": window.doc_id,
                            "failures": 1,
                            # Kept a window longer than needed: never purged while counting.
                            "purge_at": sort_key(window.ends + timedelta(seconds=1)),
                        },
                    )
                else:
                    stored["failures"] += 1
                    await self.store.replace(THROTTLE, stored, expected_version=stored["_version"])
                return
            except (DuplicateDocument, VersionConflict):
                continue
        raise Throttled(window.scope, 1.0)  # contended beyond reason: refuse, do not guess

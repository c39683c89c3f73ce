"""The sign-in throttle: failed console sign-ins counted per account and per client
address in fixed windows (limits from the policy's `access.sign_in`).

The account is the one the typed login resolves to (`logins.throttle_key`), never the
string as typed: " tess", "TESS" and "tess@…" are all tess's failures.

Counters live in the store, so they hold across restarts and every review instance;
keys are hashed, not stored. A throttled attempt does not check the password at all,
so guessing stops at the limit. Old windows' counters are removed by the purge duty.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from casework.counters import Contended, Window, WindowCounters, window_of
from casework.policy.access import Limit, SignInLimits
from casework.store import DocumentStore
from services.review.domain.case import sort_key

THROTTLE = "sign_in_throttle"


class Throttled(Exception):
    """Too many failed sign-ins for ``scope`` ("account" or "client")."""

    def __init__(self, scope: str, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins for this {scope}")
        self.scope = scope
        self.retry_after = retry_after


def _window(scope: str, key: str, limit: Limit, now: datetime) -> Window:
    return window_of(scope, key, max=limit.max, per_seconds=limit.per_seconds, now=now)


class SignInThrottle:
    def __init__(self, store: DocumentStore, limits: SignInLimits) -> None:
        self.store = store
        self.counters = WindowCounters(store, THROTTLE, field="failures")
        self.limits = limits

    async def prepare(self) -> None:
        await self.store.ensure_index(THROTTLE, "purge_at")

    def _windows(self, account: str, client: str | None, now: datetime) -> list[Window]:
        windows = [_window("account", account, self.limits.per_account, now)]
        if client:
            windows.append(_window("client", client, self.limits.per_client, now))
        return windows

    async def check(self, *, account: str, client: str | None, now: datetime) -> None:
        """Raise Throttled if this account (a `logins.throttle_key`) or client used up
        its failed attempts."""
        for window in self._windows(account, client, now):
            if await self.counters.full(window):
                raise Throttled(window.scope, max(1.0, window.retry_after(now)))

    async def failed(self, *, account: str, client: str | None, now: datetime) -> None:
        """Count one failed sign-in against the account and the client."""
        for window in self._windows(account, client, now):
            # Kept a window longer than needed: never purged while counting.
            purge_at = sort_key(window.ends + timedelta(seconds=1))
            try:
                await self.counters.increment(window, {"purge_at": purge_at})
            except Contended:
                raise Throttled(window.scope, 1.0) from None

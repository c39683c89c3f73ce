"""Per-sender and per-client limits on accepted submissions, counted in the store.

Fixed windows: one counter document per (scope, key, window), so counts survive a
restart and are shared by every intake instance on the same store. Two instances
racing on one counter retry on the version conflict; keys are hashed, not stored. The
submissions that arrive together for one counter are counted in one write of it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from casework.counters import Contended, Window, WindowCounters, window_of
from casework.store import DocumentStore
from services.intake.policy import Limit, RateLimits

COUNTERS = "rate_limits"


class RateLimited(Exception):
    """Over a limit: try again after ``retry_after`` seconds."""

    def __init__(self, scope: str, retry_after: float) -> None:
        super().__init__(f"too many submissions from this {scope}; retry after {retry_after:.0f}s")
        self.scope = scope
        self.retry_after = retry_after


def _window(scope: str, key: str, limit: Limit, now: datetime) -> Window:
    return window_of(scope, key, max=limit.max, per_seconds=limit.per_seconds, now=now)


class RateLimiter:
    def __init__(self, store: DocumentStore, limits: RateLimits) -> None:
        self.counters = WindowCounters(store, COUNTERS)
        self.limits = limits

    async def consume(
        self, *, sender: str | None, client: str | None, now: datetime, mail: bool = False
    ) -> None:
        """Count one submission against each given key, or raise RateLimited counting none.
        ``mail``: the client is an SMTP/LMTP peer, counted against the mail channel's limit."""
        windows = []
        if sender:
            windows.append(_window("sender", sender, self.limits.per_sender, now))
        if client:
            if mail:
                windows.append(_window("mail-client", client, self.limits.mail_per_client, now))
            else:
                windows.append(_window("client", client, self.limits.per_client, now))
        await self._consume(windows, now)

    async def consume_answer(self, *, client: str | None, now: datetime) -> None:
        """Count one answer to incomplete mail against the connecting client's limit."""
        if client:
            limit = self.limits.incomplete_per_client
            await self._consume([_window("incomplete-client", client, limit, now)], now)

    async def _consume(self, windows: list[Window], now: datetime) -> None:
        full = await asyncio.gather(*(self.counters.seems_full(w) for w in windows))
        for window, over in zip(windows, full, strict=True):
            if over:
                raise RateLimited(window.scope, window.retry_after(now))
        # Each counter takes its place only below its limit, so two racing for the last
        # place cannot both pass; one refused gives back the others' places.
        taken = await asyncio.gather(
            *(self.counters.take(w) for w in windows), return_exceptions=True
        )
        refusal: BaseException | None = None
        for window, result in zip(windows, taken, strict=True):
            if isinstance(result, Contended):
                refusal = refusal or RateLimited(window.scope, 1.0)
            elif isinstance(result, BaseException):
                refusal = result
            elif not result:
                refusal = refusal or RateLimited(window.scope, window.retry_after(now))
        if refusal is not None:
            for window, result in zip(windows, taken, strict=True):
                if result is True:
                    await self.counters.give_back(window)
            raise refusal

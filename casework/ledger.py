"""The ledger: a small read-only API over what a service published, for its downstream's
reconciliation duty (casework.reconcile).

``GET /internal/v1/ledger?after=<seq>&limit=<n>`` lists the events of the served types
from the service's kept outbox history (``DocumentStore.published_outbox``), oldest
first, each exactly as it was published (review's approvals with review's signature, so
the reader admits them through ``ReviewAuthority.admit`` like any consumer). Keyset
paging on the outbox ``seq``: the answer's ``next`` is the cursor for the next call.
Published entries form a prefix of ``seq`` (the relay publishes in order), so a cursor
never skips an entry published later. What the retention window purged is not listed.

Service to service, never staff: ``Authorization: Bearer <token>``, the token of one of
its readers (one per pair of services, secrets files: CASEWORK_LEDGER_TOKEN_FILE),
compared in constant time with each.
Without it, or with no token configured, 401 and nothing else: not even whether the
parameters were valid.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiohttp import web

from casework.errors import FieldError
from casework.http import RequestRejected
from casework.store import DocumentStore

log = logging.getLogger(__name__)

LEDGER_PATH = "/internal/v1/ledger"
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
# Outbox entries read per request at most: a service publishes many types, the ledger
# serves a few, and a request must stay bounded however sparse they are.
SCAN_BUDGET = 2_000
_PARAMS = frozenset({"after", "limit"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


class Ledger:
    def __init__(
        self,
        store: DocumentStore,
        types: Collection[str],
        tokens: Collection[str],
        *,
        page: int = 200,
    ) -> None:
        if isinstance(tokens, str):
            raise TypeError("tokens: a collection of tokens, not one str")
        self._store = store
        self._types = frozenset(types)
        self._tokens = [token.encode() for token in tokens if token]
        self._page = page
        self.served = 0  # items served

    def register(self, app: web.Application) -> None:
        app.router.add_get(LEDGER_PATH, self.handle)

    def middleware(self) -> Middleware:
        """The ledger as a middleware, for an app whose routes all sit behind a staff
        access middleware added after it (review): the ledger is no staff endpoint, its
        caller is a service with its own token, so it is answered before staff access."""

        @web.middleware
        async def ledger(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path != LEDGER_PATH:
                return await handler(request)
            if request.method not in ("GET", "HEAD"):
                raise web.HTTPMethodNotAllowed(request.method, ["GET"])
            return await self.handle(request)

        return ledger

    async def handle(self, request: web.Request) -> web.Response:
        self._authenticate(request)
        after, limit = _params(request)
        items, cursor, more = await self.read(after, limit)
        self.served += len(items)
        return web.json_response({"items": items, "next": cursor, "more": more})

    async def read(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int, bool]:
        """Up to ``limit`` items after ``after``; the cursor to go on from; whether more
        entries may follow."""
        items: list[dict[str, Any]] = []
        cursor = after
        scanned = 0
        while scanned < SCAN_BUDGET:
            entries = await self._store.published_outbox(0.0, after=cursor, limit=self._page)
            for entry in entries:
                if entry.event.type in self._types:
                    items.append(
                        {
                            "seq": entry.seq,
                            "case_id": entry.event.subject,
                            "event": entry.event.to_dict(),
                        }
                    )
                cursor = entry.seq
                if len(items) >= limit:
                    return items, cursor, True
            scanned += len(entries)
            if len(entries) < self._page:
                return items, cursor, False
        return items, cursor, True

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        given = presented.strip().encode()
        # Every token compared, so the time says nothing about which one nearly matched.
        matches = [hmac.compare_digest(given, token) for token in self._tokens]
        if scheme.lower() != "bearer" or not any(matches):
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="ledger"'})


def _params(request: web.Request) -> tuple[int, int]:
    errors = [
        FieldError(name, "unknown", "not a parameter of the ledger (after, limit)")
        for name in sorted(set(request.query) - _PARAMS)
    ]
    after = _integer(request, "after", 0, 0, 2**63 - 1, errors)
    limit = _integer(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, errors)
    if errors:
        raise RequestRejected(400, "validation_failed", errors)
    return after, limit


def _integer(
    request: web.Request, name: str, default: int, low: int, high: int, errors: list[FieldError]
) -> int:
    values = request.query.getall(name, [])
    if not values:
        return default
    if len(values) > 1:
        errors.append(FieldError(name, "single", "given more than once"))
        return default
    raw = values[0]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        errors.append(FieldError(name, "integer", f"must be a whole number {low} to {high}"))
        return default
    value = int(raw)
    if not low <= value <= high:
        errors.append(FieldError(name, "range", f"must be {low} to {high}"))
        return default
    return value

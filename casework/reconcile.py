"""Reconciliation: what the upstream says exists, compared with what this service handled.

A consuming service (review from intake, enforcement from review, notify from
enforcement and from review, intake from review for its tracking pages) reads its
upstream's ledger (casework.ledger) on start (a full pass from the beginning of the
upstream's kept history) and every ``interval`` seconds (from a cursor kept in its own
store). For each listed event it asks its own store whether the event was handled
(``handled``); a gap is fed to the service's ordinary consumer handler, the same code
path and checks as an event read from the bus
(review's approvals are admitted by ``ReviewAuthority.admit``; a forgery is refused as
the consumer refuses it), and those handlers are idempotent, so a gap finished twice has
one effect.

A gap it cannot finish (the handler refuses the event, fails for good, fails
``give_up_after`` passes in a row, or still leaves it unhandled) is ``report``-ed once
(the service publishes a ``CaseUnreconciled`` event through its outbox; the monitor
alerts, naming the case). An event younger than ``grace`` is left for the next pass:
the consumer is probably about to read it.

It runs under a lease (``Wiring.once``): one instance reads the ledger at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from yarl import URL

from casework.claims import HeldElsewhere
from casework.cloudevents import CloudEvent, MalformedEvent
from casework.contract import to_cloudevent, topic_of
from casework.contract.reconcile import UNRECONCILED, CaseUnreconciled
from casework.kafka.dead_letters import PermanentError
from casework.keyed_locks import KeyedLocks
from casework.ledger import LEDGER_PATH
from casework.outbox import OutboxRelay
from casework.periodic import every
from casework.store import DocumentStore, DuplicateDocument, OutboxMessage

log = logging.getLogger(__name__)

CURSORS = "reconcile_cursors"
GAPS = "reconcile_gaps"  # gaps reported as unfinishable, one per upstream event

Handler = Callable[[CloudEvent], Awaitable[None]]
Handled = Callable[[CloudEvent], Awaitable[bool]]
Report = Callable[[str, CloudEvent | None, str], Awaitable[None]]


def one_case_at_a_time(handle: Handler) -> Handler:
    """``handle`` for one event of a case at a time in this process: the service's
    consumer and its reconciliation duty both call it, so an event the duty feeds while
    the consumer reads it after all (a late replay) is handled after, never alongside
    (the second call finds it done)."""
    locks = KeyedLocks()

    async def locked(event: CloudEvent) -> None:
        async with locks.hold(event.subject):
            await handle(event)

    return locked


class UpstreamError(Exception):
    """The upstream's ledger did not answer, or not as the ledger answers."""


@dataclass(frozen=True)
class Item:
    seq: int
    case_id: str
    event: CloudEvent | None  # None: listed, but not a readable event
    problem: str = ""


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next: int
    more: bool


class LedgerClient:
    """Reads an upstream's ledger with the token of this pair of services."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0) -> None:
        self._url = URL(base_url.rstrip("/") + LEDGER_PATH)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def page(self, after: int, limit: int) -> Page:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = self._url.with_query(after=str(after), limit=str(limit))
        try:
            async with self._session.get(url, headers=self._headers) as reply:
                if reply.status != 200:
                    raise UpstreamError(f"{self._url}: HTTP {reply.status}")
                body = await reply.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise UpstreamError(f"{self._url}: {exc!r}") from exc
        return parse_page(body, after)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def parse_page(body: Any, after: int) -> Page:
    """A ledger answer, checked; an item whose event does not decode keeps its case id."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise UpstreamError("ledger answer: no items list")
    cursor, more = body.get("next"), body.get("more")
    if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < after:
        raise UpstreamError(f"ledger answer: next {cursor!r} is not a cursor after {after}")
    if not isinstance(more, bool):
        raise UpstreamError("ledger answer: more must be true or false")
    items = []
    for raw in body["items"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("seq"), int):
            raise UpstreamError("ledger answer: an item without its seq")
        case_id = str(raw.get("case_id") or "")
        try:
            event = (
                CloudEvent.from_dict(raw["event"]) if isinstance(raw.get("event"), dict) else None
            )
        except MalformedEvent as exc:
            items.append(Item(raw["seq"], case_id, None, f"unreadable event: {exc}"))
            continue
        if event is None:
            items.append(Item(raw["seq"], case_id, None, "listed without its event"))
        else:
            items.append(Item(raw["seq"], case_id or event.subject, event))
    return Page(items, cursor, more)


class Reconciler:
    def __init__(
        self,
        upstream: str,
        store: DocumentStore,
        ledger: LedgerClient,
        *,
        handled: Handled,
        handle: Handler,
        report: Report,
        types: Collection[str] = (),
        interval: float = 60.0,
        grace: float | None = None,
        page: int = 100,
        give_up_after: int = 3,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.upstream = upstream
        self._types = frozenset(types)  # empty: whatever the ledger lists
        self._store = store
        self._ledger = ledger
        self._handled = handled
        self._handle = handle
        self._report = report
        self._interval = interval
        self._grace = timedelta(seconds=interval if grace is None else grace)
        self._page = page
        self._give_up_after = give_up_after
        self._registry = registry
        self._full = True  # the next pass reads the upstream's whole history
        self._failures: dict[str, int] = {}  # event id -> passes in a row that failed it
        self.passes = 0
        self.pass_failures = 0
        self.checked = 0
        self.finished = 0
        self.unfinishable = 0
        self.last_pass_seconds = 0.0

    async def run(self) -> None:
        """A full pass now, then a pass from the cursor every ``interval`` seconds."""
        try:
            duty = every(
                f"reconcile-{self.upstream}",
                self._interval,
                self._pass,
                registry=self._registry,
            )
            await duty()
        finally:
            await self._ledger.close()

    async def _pass(self) -> None:
        """The first pass is a full one, until one succeeds. An unreachable upstream is
        counted and waits for the next pass; any other failure is counted and raised (the
        duty logs it and tries again after a backoff)."""
        try:
            await self.reconcile(full=self._full)
            self._full = False
        except UpstreamError as exc:
            self.pass_failures += 1
            log.warning(
                "reconciliation from %s: %s; next pass in %.0f s",
                self.upstream,
                exc,
                self._interval,
            )
        except Exception:
            self.pass_failures += 1
            raise

    async def reconcile(self, *, full: bool = False) -> None:
        """One pass: from the start of the upstream's history, or from the kept cursor."""
        started = time.monotonic()
        after = 0 if full else await self._cursor()
        while True:
            page = await self._ledger.page(after, self._page)
            stopped_at = None
            for item in page.items:
                if not await self._check(item):
                    stopped_at = item.seq
                    break
                after = item.seq
            if stopped_at is None:
                after = page.next
            await self._keep_cursor(after)
            if stopped_at is not None or not page.more:
                break
        self.passes += 1
        self.last_pass_seconds = time.monotonic() - started

    async def _check(self, item: Item) -> bool:
        """Whether the pass may go on past ``item`` (False: look at it again next pass)."""
        self.checked += 1
        event = item.event
        if event is None:
            await self._unfinishable(item.case_id, None, item.problem)
            return True
        case_id = event.subject  # what the event itself is about, not what the item says
        if self._types and event.type not in self._types:
            return True  # for another downstream of the same ledger
        if datetime.now(UTC) - event.time < self._grace:
            return False
        try:
            done = await self._handled(event)
        except ValidationError as exc:
            await self._unfinishable(case_id, event, f"unreadable: invalid data {_where(exc)}")
            return True
        except (ValueError, KeyError, TypeError) as exc:
            await self._unfinishable(case_id, event, f"unreadable: {type(exc).__name__}")
            return True
        if done:
            self._failures.pop(event.id, None)
            return True
        try:
            await self._handle(event)
        except ValidationError as exc:  # its message quotes the data: locations only
            await self._unfinishable(case_id, event, f"refused: invalid data {_where(exc)}")
            return True
        except (PermanentError, MalformedEvent) as exc:
            await self._unfinishable(case_id, event, f"refused: {exc}")
            return True
        except HeldElsewhere as exc:  # the owner is doing it now: not a failure
            log.info("reconciling %s from %s: %s; next pass again", case_id, self.upstream, exc)
            return False
        except Exception as exc:
            failures = self._failures.get(event.id, 0) + 1
            self._failures[event.id] = failures
            if failures < self._give_up_after:
                log.warning(
                    "reconciling %s from %s failed (%d): %r; next pass again",
                    case_id,
                    self.upstream,
                    failures,
                    exc,
                )
                return False
            self._failures.pop(event.id, None)
            await self._unfinishable(case_id, event, f"failed {failures} passes in a row: {exc!r}")
            return True
        self._failures.pop(event.id, None)
        if await self._handled(event):
            self.finished += 1
            log.info("reconciled %s from %s (%s)", case_id, self.upstream, event.type)
        else:
            await self._unfinishable(case_id, event, "handled, but still not done")
        return True

    async def _unfinishable(self, case_id: str, event: CloudEvent | None, reason: str) -> None:
        self.unfinishable += 1
        log.error("reconciliation from %s cannot finish %s: %s", self.upstream, case_id, reason)
        await self._report(case_id, event, reason[:500])

    async def _cursor(self) -> int:
        doc = await self._store.get(CURSORS, self.upstream)
        return int(doc["after"]) if doc else 0

    async def _keep_cursor(self, after: int) -> None:
        doc = await self._store.get(CURSORS, self.upstream)
        if doc is None:
            try:
                await self._store.insert(CURSORS, {"_id": self.upstream, "after": after})
            except DuplicateDocument:
                pass  # another holder wrote it first; the next pass reads the newer one
            return
        if doc["after"] == after:
            return
        await self._store.replace(
            CURSORS, {**doc, "after": after}, expected_version=doc["_version"]
        )


def _where(exc: ValidationError) -> str:
    return ", ".join(
        ".".join(str(p) for p in e["loc"]) + f" ({e['type']})" for e in exc.errors()[:3]
    )


def outbox_report(store: DocumentStore, relay: OutboxRelay, service: str, upstream: str) -> Report:
    """Report a gap once per upstream event: a ``CaseUnreconciled`` of ``service`` through
    its outbox, stored with the record that it was reported."""
    model: type[CaseUnreconciled] = UNRECONCILED[service]

    async def report(case_id: str, event: CloudEvent | None, reason: str) -> None:
        found = model(
            case_id=case_id or "unknown",
            upstream=upstream,
            upstream_event_id=event.id if event else None,
            upstream_event_type=event.type if event else None,
            reason=reason,
            found_at=datetime.now(UTC),
        )
        key = f"{upstream}:{event.id if event else case_id}"
        try:
            await store.insert(
                GAPS,
                {
                    "_id": key,
                    "case_id": case_id,
                    "reason": reason,
                    "at": found.found_at.isoformat(),
                },
                outbox=[OutboxMessage(topic_of(service), to_cloudevent(found))],
            )
        except DuplicateDocument:
            return
        relay.wake()

    return report

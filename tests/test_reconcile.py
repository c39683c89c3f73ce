"""The ledger API and the reconciliation duty over real HTTP and a real SQLite store.

The ledger (casework.ledger) serves a service's kept outbox history to the holder of its
pair's token; the reconciler (casework.reconcile) reads it, finishes the gaps through the
service's own idempotent handler and reports what it cannot finish. The stack-level proof
(every service a process, the real broker) is tests/test_reconcile_stack.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from casework.cloudevents import CloudEvent
from casework.contract import to_cloudevent, topic_of
from casework.contract.reconcile import EnforcementCaseUnreconciled
from casework.http import make_app
from casework.ledger import LEDGER_PATH, Ledger
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.reconcile import GAPS, LedgerClient, Reconciler, one_case_at_a_time, outbox_report
from casework.signing import TrustedKeys, generate_key_pair, load_signer
from casework.store import DocumentStore, OutboxMessage
from casework.store.sqlite import SqliteStore
from casework.trust import ReviewAuthority, sign_event
from tests.test_enforcement_domain import approved

TOKEN = "t0ken-of-the-pair-0123456789"
OTHER_PAIR = "t0ken-of-another-reader-98765"
WANTED = "officeactions.review.decision-approved.v1"
OTHER = "officeactions.review.case-opened.v1"
POLICY = load_policy(Path(__file__).resolve().parent.parent / "policy" / "office-actions.yaml")


def event(case_id: str, type_: str = WANTED, *, age: float = 3600.0) -> CloudEvent:
    return CloudEvent(
        type=type_,
        source="/officeactions/review",
        subject=case_id,
        data={"case_id": case_id},
        time=datetime.now(UTC) - timedelta(seconds=age),
    )


@pytest.fixture
async def store() -> AsyncIterator[DocumentStore]:
    opened = await SqliteStore.open_url("sqlite:///:memory:")
    try:
        yield opened
    finally:
        await opened.close()


async def publish(store: DocumentStore, events: list[CloudEvent]) -> None:
    """Store each event with a document, as a service's write does, and mark it published."""
    for index, item in enumerate(events):
        await store.insert(
            "docs",
            {"_id": f"{item.subject}-{index}"},
            outbox=[OutboxMessage(topic_of("review"), item)],
        )
    await store.mark_published(await store.pending_outbox(1000))


@pytest.fixture
async def ledger_url(store: DocumentStore) -> AsyncIterator[str]:
    app = make_app(registry=CollectorRegistry(), health_checks={})
    Ledger(store, [WANTED], [OTHER_PAIR, TOKEN], page=3).register(app)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url(LEDGER_PATH))
    finally:
        await server.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the ledger API -------------------------------------------------------------------------


async def test_the_ledger_pages_the_served_events_as_published(
    store: DocumentStore, ledger_url: str, http: aiohttp.ClientSession
) -> None:
    published = [event(f"OA-{n}", WANTED if n % 2 else OTHER) for n in range(9)]
    await publish(store, published)
    seen: list[dict[str, Any]] = []
    after = 0
    for _ in range(10):
        async with http.get(
            ledger_url, params={"after": str(after), "limit": "2"}, headers=bearer(TOKEN)
        ) as reply:
            assert reply.status == 200
            body = await reply.json()
        assert len(body["items"]) <= 2
        seen += body["items"]
        assert body["next"] >= after
        after = body["next"]
        if not body["more"]:
            break
    wanted = [e for e in published if e.type == WANTED]
    assert [item["case_id"] for item in seen] == [e.subject for e in wanted]
    # Exactly the event as published: id, time and data.
    assert [CloudEvent.from_dict(item["event"]) for item in seen] == wanted
    async with http.get(ledger_url, params={"after": str(after)}, headers=bearer(TOKEN)) as reply:
        assert (await reply.json()) == {"items": [], "next": after, "more": False}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong-token-of-some-other-pair"),
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        bearer(TOKEN[:-1]),
    ],
)
@pytest.mark.parametrize("params", [{}, {"after": "-1", "limit": "99999", "x": "1"}])
async def test_the_ledger_shows_nothing_without_the_pairs_token(
    store: DocumentStore,
    ledger_url: str,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    params: dict[str, str],
) -> None:
    await publish(store, [event("OA-SECRET")])
    async with http.get(ledger_url, params=params, headers=headers) as reply:
        assert reply.status == 401
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        text = await reply.text()
    # Not the case, nor which parameter was wrong.
    assert "OA-SECRET" not in text and "after" not in text and "limit" not in text


async def test_a_ledger_without_a_token_refuses_everyone(
    store: DocumentStore, http: aiohttp.ClientSession
) -> None:
    app = make_app(registry=CollectorRegistry(), health_checks={})
    Ledger(store, [WANTED], []).register(app)
    server = TestServer(app)
    await server.start_server()
    try:
        for headers in ({}, bearer(""), bearer("None")):
            async with http.get(server.make_url(LEDGER_PATH), headers=headers) as reply:
                assert reply.status == 401
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"after": "-1"}, ["after"]),
        ({"after": "abc"}, ["after"]),
        ({"after": "1e3"}, ["after"]),
        ({"after": "9" * 30}, ["after"]),
        ({"limit": "0"}, ["limit"]),
        ({"limit": "501"}, ["limit"]),
        ({"limit": "٣"}, ["limit"]),
        ({"cursor": "1"}, ["cursor"]),
        ({"after": "x", "limit": "0"}, ["after", "limit"]),
    ],
)
async def test_the_ledger_names_each_bad_parameter(
    ledger_url: str, http: aiohttp.ClientSession, params: dict[str, str], fields: list[str]
) -> None:
    async with http.get(ledger_url, params=params, headers=bearer(TOKEN)) as reply:
        assert reply.status == 400
        body = await reply.json()
    assert body["error"] == "validation_failed"
    assert sorted(e["field"] for e in body["errors"]) == fields


async def test_each_reader_of_a_ledger_has_its_own_token(
    store: DocumentStore, ledger_url: str, http: aiohttp.ClientSession
) -> None:
    for token in (TOKEN, OTHER_PAIR):
        async with http.get(ledger_url, headers=bearer(token)) as reply:
            assert reply.status == 200
    async with http.get(ledger_url, headers=bearer(TOKEN + OTHER_PAIR)) as reply:
        assert reply.status == 401
    with pytest.raises(TypeError):
        Ledger(store, [WANTED], TOKEN)  # one str is not a set of one-character tokens


async def test_a_repeated_parameter_is_refused(
    ledger_url: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{ledger_url}?after=1&after=2", headers=bearer(TOKEN)) as reply:
        assert reply.status == 400
        assert [e["field"] for e in (await reply.json())["errors"]] == ["after"]


# --- the reconciler ---------------------------------------------------------------------


class Downstream:
    """A consumer's store and idempotent handler: one effect per case."""

    def __init__(self, store: DocumentStore, fail: Callable[[CloudEvent], None] | None = None):
        self.store = store
        self.fail = fail
        self.calls: list[str] = []
        self.reports: list[tuple[str, str]] = []

    async def handled(self, item: CloudEvent) -> bool:
        return await self.store.get("effects", item.subject) is not None

    async def handle(self, item: CloudEvent) -> None:
        self.calls.append(item.subject)
        if self.fail is not None:
            self.fail(item)
        if not await self.handled(item):
            await self.store.insert("effects", {"_id": item.subject})

    async def report(self, case_id: str, item: CloudEvent | None, reason: str) -> None:
        self.reports.append((case_id, reason))


def reconciler(url: str, down: Downstream, grace: float = 5.0, **options: Any) -> Reconciler:
    base = url.removesuffix(LEDGER_PATH)
    return Reconciler(
        "review",
        down.store,
        LedgerClient(base, TOKEN),
        handled=options.pop("handled", down.handled),
        handle=down.handle,
        report=down.report,
        interval=60.0,
        grace=grace,
        page=2,
        **options,
    )


async def downstream_store() -> DocumentStore:
    return await SqliteStore.open_url("sqlite:///:memory:")


async def test_gaps_are_finished_once_and_the_cursor_spares_a_rescan(
    store: DocumentStore, ledger_url: str
) -> None:
    await publish(store, [event(f"OA-{n}") for n in range(5)])
    own = await downstream_store()
    try:
        down = Downstream(own)
        await own.insert("effects", {"_id": "OA-1"})  # the consumer handled this one
        duty = reconciler(ledger_url, down)
        await duty.reconcile(full=True)
        assert sorted(down.calls) == ["OA-0", "OA-2", "OA-3", "OA-4"]
        assert (duty.checked, duty.finished, duty.unfinishable) == (5, 4, 0)
        await duty.reconcile(full=True)  # a full pass again: all handled, nothing fed
        assert len(down.calls) == 4 and duty.finished == 4
        await publish(store, [event("OA-5")])
        checked = duty.checked
        await duty.reconcile()  # from the kept cursor: only what is new
        assert duty.checked == checked + 1 and down.calls[-1] == "OA-5"
        # The cursor is kept in the store: a new instance goes on from it.
        again = reconciler(ledger_url, Downstream(own))
        await again.reconcile()
        assert again.checked == 0
    finally:
        await own.close()


async def test_a_young_event_is_left_to_the_consumer_until_the_grace_has_passed(
    store: DocumentStore, ledger_url: str
) -> None:
    await publish(store, [event("OA-OLD"), event("OA-NEW", age=0), event("OA-LATER")])
    own = await downstream_store()
    try:
        down = Downstream(own)
        duty = reconciler(ledger_url, down)
        await duty.reconcile()
        assert down.calls == ["OA-OLD"]  # stopped at the young one, cursor before it
        await duty.reconcile()
        assert down.calls == ["OA-OLD"]
        await reconciler(ledger_url, down, grace=0).reconcile()
        assert down.calls == ["OA-OLD", "OA-NEW", "OA-LATER"]
    finally:
        await own.close()


async def test_what_cannot_be_finished_is_reported_once_per_case(
    store: DocumentStore, ledger_url: str
) -> None:
    await publish(store, [event("OA-BROKEN"), event("OA-FINE")])
    own = await downstream_store()

    def broken(item: CloudEvent) -> None:
        if item.subject == "OA-BROKEN":
            raise RuntimeError("the wiki is down")

    try:
        down = Downstream(own, fail=broken)
        duty = reconciler(ledger_url, down, give_up_after=2)
        await duty.reconcile()  # a transient failure: the pass stops there
        assert down.calls == ["OA-BROKEN"] and down.reports == []
        await duty.reconcile()  # the second in a row: given up, reported, gone on
        assert down.calls == ["OA-BROKEN", "OA-BROKEN", "OA-FINE"]
        assert [case for case, _ in down.reports] == ["OA-BROKEN"]
        assert "failed 2 passes" in down.reports[0][1]
        assert duty.unfinishable == 1 and duty.finished == 1
    finally:
        await own.close()


async def test_a_forged_approval_is_refused_by_the_consumers_own_checks_and_reported(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """A fake upstream serves a decision signed by another key, one with no event and one
    signed by review: only review's is acted on; the others are reported, naming the case."""
    review_key, review_public = generate_key_pair(tmp_path / "review")
    rogue_key, _ = generate_key_pair(tmp_path / "rogue")
    genuine = sign_event(to_cloudevent(approved()), load_signer(review_key))
    forged_data = approved().model_copy(update={"case_id": "OA-FORGED"})
    forged = sign_event(to_cloudevent(forged_data), load_signer(rogue_key))
    unsigned = to_cloudevent(approved().model_copy(update={"case_id": "OA-UNSIGNED"}))
    old = timedelta(hours=1)
    items = [
        {"seq": 1, "case_id": "OA-FORGED", "event": _aged(forged, old)},
        {"seq": 2, "case_id": "OA-UNSIGNED", "event": _aged(unsigned, old)},
        {"seq": 3, "case_id": "OA-NOEVENT"},
        {"seq": 4, "case_id": genuine.subject, "event": _aged(genuine, old)},
    ]
    tokens: list[str | None] = []

    async def fake(request: web.Request) -> web.Response:
        tokens.append(request.headers.get("Authorization"))
        after = int(request.query["after"])
        return web.json_response(
            {"items": [i for i in items if int(i["seq"]) > after], "next": 4, "more": False}
        )

    app = web.Application()
    app.router.add_get(LEDGER_PATH, fake)
    server = TestServer(app)
    await server.start_server()
    authority = ReviewAuthority(TrustedKeys.of(load_signer(review_key).public_key()), POLICY)
    assert review_public.exists()
    own = await downstream_store()
    acted: list[str] = []

    async def handle(item: CloudEvent) -> None:
        authority.admit(item)  # the consumer's own check, EventRefused for a forgery
        acted.append(item.subject)
        await own.insert("effects", {"_id": item.subject})

    relay = OutboxRelay(own, _never_publish)
    try:
        down = Downstream(own)
        duty = Reconciler(
            "review",
            own,
            LedgerClient(str(server.make_url("")), TOKEN),
            handled=down.handled,
            handle=handle,
            report=outbox_report(own, relay, "enforcement", "review"),
            interval=60.0,
        )
        await duty.reconcile(full=True)
        await duty.reconcile(full=True)  # again: reported once each all the same
        assert acted == [genuine.subject]
        assert tokens and set(tokens) == {f"Bearer {TOKEN}"}
        pending = await own.pending_outbox(100)
        reported = {
            e.event.subject: EnforcementCaseUnreconciled.model_validate(e.event.data)
            for e in pending
        }
        assert sorted(reported) == ["OA-FORGED", "OA-NOEVENT", "OA-UNSIGNED"]
        assert {e.topic for e in pending} == {topic_of("enforcement")}
        assert "signature" in reported["OA-FORGED"].reason
        assert reported["OA-FORGED"].upstream_event_id == forged.id
        assert reported["OA-NOEVENT"].upstream_event_id is None
        assert len(await own.find(GAPS)) == 3
    finally:
        await own.close()
        await server.close()


def _aged(item: CloudEvent, by: timedelta) -> dict[str, Any]:
    raw = item.to_dict()
    raw["time"] = (item.time - by).isoformat()
    return raw


async def _never_publish(topic: str, item: CloudEvent) -> None:
    raise AssertionError("the relay does not run in this test")


async def test_ahead_of_staff_access_the_ledger_answers_and_everything_else_is_guarded(
    store: DocumentStore, http: aiohttp.ClientSession
) -> None:
    """Review's way: the ledger's middleware before a staff access middleware that refuses
    anyone here; the ledger keeps its own token, JSON errors and field errors."""
    await publish(store, [event("OA-1")])
    app = make_app(registry=CollectorRegistry(), health_checks={})
    app.middlewares.append(Ledger(store, [WANTED], [TOKEN]).middleware())

    @web.middleware
    async def staff_only(request: web.Request, handler: Any) -> web.StreamResponse:
        raise web.HTTPForbidden()

    app.middlewares.append(staff_only)
    server = TestServer(app)
    await server.start_server()
    try:
        url = server.make_url(LEDGER_PATH)
        async with http.get(url, headers=bearer(TOKEN)) as reply:
            assert reply.status == 200
            assert [i["case_id"] for i in (await reply.json())["items"]] == ["OA-1"]
        async with http.get(url) as reply:
            assert reply.status == 401
        async with http.get(url, params={"limit": "0"}, headers=bearer(TOKEN)) as reply:
            assert reply.status == 400
            assert [e["field"] for e in (await reply.json())["errors"]] == ["limit"]
        async with http.post(url, headers=bearer(TOKEN)) as reply:
            assert reply.status == 405
        async with http.get(server.make_url("/healthz")) as reply:
            assert reply.status == 403
    finally:
        await server.close()


async def test_the_consumer_and_the_duty_handle_one_event_of_a_case_at_a_time() -> None:
    inside: list[str] = []
    most: dict[str, int] = {}
    gate = asyncio.Event()

    async def slow(item: CloudEvent) -> None:
        inside.append(item.subject)
        most[item.subject] = max(most.get(item.subject, 0), inside.count(item.subject))
        await gate.wait()
        inside.remove(item.subject)

    handle = one_case_at_a_time(slow)
    calls = [asyncio.create_task(handle(event(c))) for c in ("OA-1", "OA-1", "OA-2")]
    for _ in range(20):
        await asyncio.sleep(0)  # wait-ok: let every task reach its lock
    assert sorted(inside) == ["OA-1", "OA-2"]  # the second OA-1 waits; OA-2 does not
    gate.set()
    await asyncio.gather(*calls)
    assert most == {"OA-1": 1, "OA-2": 1} and inside == []


async def test_an_unreadable_event_is_reported_one_of_another_type_passed_over_and_neither_blocks(
    store: DocumentStore, ledger_url: str
) -> None:
    await publish(store, [event("OA-JUNK"), event("OA-WRONG"), event("OA-GOOD")])
    own = await downstream_store()
    try:
        down = Downstream(own)

        async def picky(item: CloudEvent) -> bool:
            if item.subject == "OA-JUNK":
                raise ValueError("SECRET not the data this service reads")
            return await down.handled(item)

        await reconciler(ledger_url, down, handled=picky).reconcile()
        assert down.calls == ["OA-WRONG", "OA-GOOD"]
        assert [case for case, _ in down.reports] == ["OA-JUNK"]
        assert "SECRET" not in down.reports[0][1]  # reports name the error, not the data
        # A ledger serves several downstreams (review's: enforcement and notify): the
        # events of types this one does not take are another's, never reported here.
        other = Downstream(own)
        typed = reconciler(ledger_url, other, types=[OTHER])
        await typed.reconcile(full=True)
        assert typed.unfinishable == 0 and typed.finished == 0 and other.calls == []
        assert typed.checked == 3 and other.reports == []
    finally:
        await own.close()

"""Two instances handling the same event at the same time do each effect once.

It happens in production: a consumer whose group membership lapsed (a missed heartbeat on
a busy machine) goes on with the records in hand while the partition's new owner reads
them again, and one instance's reconciliation duty may feed an event the owner is about
to handle. CI saw it once as a public statement appended twice to the log page.

Each test holds instance A in the middle of an effect (an SMTP DATA, a wiki append) over
the real parts (aiosmtpd, the sandbox MediaWiki, SQLite shared by both instances, as
instances of one service share their store), lets instance B handle the same event, and
checks that B waits (HeldElsewhere, which the consumer retries without counting) instead
of doing it too; then lets A finish and B handle the event again, and counts the effects.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from casework.claims import Claimant, HeldElsewhere
from casework.contract import NoticePlan
from casework.mediawiki import MediaWikiClient
from casework.store import DocumentStore
from casework.store.sqlite import SqliteStore
from deploy.sandbox_wiki import ROLE_ACCOUNT, SandboxWiki
from services.enforcement.domain import action_reason
from services.notify.adapters.deliveries import message_id
from tests.fixtures.keys import signed
from tests.support import eventually, holds, smtp_server
from tests.test_enforcement import (  # noqa: F401 (fixtures)
    ALPHA,
    POLICY,
    approval,
    client_for,
    clients,
    deliver,
    make_enforcer,
)
from tests.test_enforcement import LOG_PAGE as ENFORCEMENT_LOG_PAGE
from tests.test_enforcement import store as enforcement_store  # noqa: F401 (fixture)
from tests.test_notify_delivery import (  # noqa: F401 (fixtures)
    LOG_PAGE,
    Inbox,
    approved_event,
    enforced_event,
    notifier,
    store,
    wiki,
)
from tests.test_notify_security import authors

CLAIM_SECONDS = 15.0  # longer than any test here: nobody's claim runs out


class GatedInbox(Inbox):
    """Holds the first message's DATA until ``gate`` is set (the server has its own thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.in_data = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.in_data.set()
        await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 10.0)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def gated_inbox() -> Iterator[tuple[GatedInbox, int]]:
    box = GatedInbox()
    with smtp_server(box) as port:
        yield box, port


class PausingWiki(MediaWikiClient):
    """The real wiki client, stopping before each append until ``gate`` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.reached = asyncio.Event()

    async def append_once(
        self, title: str, text: str, summary: str, *, after: int | None = None
    ) -> int:
        self.reached.set()
        await self.gate.wait()
        return await super().append_once(title, text, summary, after=after)


@pytest.fixture
async def pausing_wiki(fresh_wiki: SandboxWiki) -> AsyncIterator[PausingWiki]:
    async with PausingWiki(fresh_wiki.api_url, *fresh_wiki.credentials()) as client:
        yield client


def instance(name: str) -> Claimant:
    return Claimant(name, CLAIM_SECONDS)


async def test_an_email_being_sent_by_one_instance_is_not_sent_by_the_other(
    store: DocumentStore, wiki: MediaWikiClient, gated_inbox: tuple[GatedInbox, int]
) -> None:
    box, port = gated_inbox
    one = notifier(store, wiki, port, claimant=instance("notify-1"))
    two = notifier(store, wiki, port, claimant=instance("notify-2"))
    await one.handle(approved_event("OA-TWICE1"))  # kept: nothing is sent yet
    event = enforced_event("OA-TWICE1")  # the affected user's email, then the statement
    first = asyncio.create_task(one.handle(event))
    await eventually(lambda: holds(box.in_data.is_set()), timeout=10, what="notify-1 in DATA")
    with pytest.raises(HeldElsewhere):
        await two.handle(event)
    box.gate.set()
    await first
    await two.handle(event)  # the consumer's retry: all sent, nothing more
    ids = [m["Message-ID"] for m in box.kept]
    assert ids and len(ids) == len(set(ids)), ids
    emailed = [
        d["_id"]
        for d in await one.notify.sender.deliveries.of_case("OA-TWICE1")
        if d["channel"] == "email"
    ]
    assert {message_id(key) for key in emailed} == set(ids)


async def test_a_statement_being_appended_by_one_instance_is_not_appended_by_the_other(
    store: DocumentStore,
    wiki: MediaWikiClient,
    pausing_wiki: PausingWiki,
    gated_inbox: tuple[GatedInbox, int],
) -> None:
    box, port = gated_inbox
    box.gate.set()  # emails go through; the wiki append is what is held
    case_id = "OA-TWICE2"
    one = notifier(store, pausing_wiki, port, claimant=instance("notify-1"))
    two = notifier(store, wiki, port, claimant=instance("notify-2"))
    await one.handle(approved_event(case_id))
    first = asyncio.create_task(one.handle(enforced_event(case_id)))
    await asyncio.wait_for(pausing_wiki.reached.wait(), timeout=20)
    with pytest.raises(HeldElsewhere):
        await two.handle(enforced_event(case_id))
    pausing_wiki.gate.set()
    await first
    await two.handle(enforced_event(case_id))
    page = await wiki.page(LOG_PAGE)
    assert page is not None and page.text.count(f"== {case_id}:") == 1
    summary = f"Office action {case_id}: public statement"
    edits = [(revid, user) for revid, user, comment in await authors(wiki) if comment == summary]
    assert len(edits) == 1 and edits[0][1] == ROLE_ACCOUNT


async def test_a_notice_being_placed_by_one_instance_is_not_placed_by_the_other(
    enforcement_store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    fresh_farm: dict[str, SandboxWiki],
) -> None:
    alpha = fresh_farm[ALPHA]
    async with PausingWiki(alpha.api_url, *alpha.credentials(), retry_initial_wait=0.01) as held:
        one = make_enforcer(
            enforcement_store, {**clients, ALPHA: held}, claimant=instance("enforcement-1")
        )
        two = make_enforcer(enforcement_store, clients, claimant=instance("enforcement-2"))
        approved = approval(
            "conduct-warning", "Harasser3", notices=NoticePlan(user_page=True), wikis=[ALPHA]
        )
        event = signed(approved)
        first = asyncio.create_task(deliver(one, event))
        await asyncio.wait_for(held.reached.wait(), timeout=20)
        with pytest.raises(HeldElsewhere):
            await deliver(two, event)
        held.gate.set()
        await first
        await deliver(two, event)
    reason = action_reason(
        approved.case_id, POLICY.action("conduct-warning").title, ENFORCEMENT_LOG_PAGE
    )
    assert await _edits_with(alpha.api_url, "User:Harasser3", reason) == 1


async def _edits_with(api_url: str, title: str, summary: str) -> int:
    params = {
        "action": "query",
        "prop": "revisions",
        "titles": title,
        "rvprop": "ids|comment",
        "rvlimit": "max",
        "format": "json",
        "formatversion": "2",
    }
    async with aiohttp.ClientSession() as http, http.get(api_url, params=params) as reply:
        body: dict[str, Any] = await reply.json()
    (page,) = body["query"]["pages"]
    return sum(1 for r in page.get("revisions", []) if r.get("comment") == summary)

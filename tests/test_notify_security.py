"""Notify's hardening, over real parts: the sandbox MediaWiki (another user's edits are
made with that user's own bot password), an aiosmtpd SMTP server, SQLite, and for the
deliveries API the whole stack with review issuing the assertions.

- "already published" on the public log page is decided from our own edits (the role
  account's revision with our summary) and records, never from a marker in the text;
- the log page is created and protected by the role account (edit and move: sysop);
- delivery keys carry no address, and records stored under the old keys still dedupe;
- the deliveries API wants a review-signed assertion for notify with a role that may
  read cases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from casework import assertions
from casework.contract import Audience, DecisionReversed
from casework.mediawiki import MediaWikiClient, MediaWikiError
from casework.store import DocumentStore
from deploy.sandbox_wiki import DEMO_BOT_PASSWORDS, ROLE_ACCOUNT, SandboxWiki
from services.notify.adapters.deliveries import (
    DELIVERIES,
    Deliveries,
    address_free_key,
    functionary_channel,
    idempotency_key,
)
from services.notify.adapters.functionaries import load_functionaries
from services.notify.adapters.log_page import LEVELS, protect_log_page
from tests.fixtures.keys import session_signer as review_signer
from tests.fixtures.stack import Stack
from tests.test_end_to_end_notify import notify_token
from tests.test_notify_delivery import (  # noqa: F401 (fixtures)
    LOG_PAGE,
    NOW,
    POLICY,
    ROOT,
    Inbox,
    approve_and_enforce,
    approved_event,
    decision,
    inbox,
    notifier,
    reversal_approvals,
    signed,
    store,
    wiki,
)

STEWARD = next(b for b in DEMO_BOT_PASSWORDS if b.user == "Steward5")
FUNCTIONARIES = "functionaries@sandbox.test"


@pytest.fixture
async def steward(fresh_wiki: SandboxWiki) -> AsyncIterator[MediaWikiClient]:
    """Another administrator of the wiki: not the role account. It may edit pages, not
    create them, so the role account starts the log page."""
    user, password = fresh_wiki.credentials()
    async with MediaWikiClient(fresh_wiki.api_url, user, password) as role:
        if await role.page(LOG_PAGE) is None:
            await role.edit(LOG_PAGE, text="Office actions log\n", summary="start")
    async with MediaWikiClient(
        fresh_wiki.api_url, f"{STEWARD.user}@{STEWARD.app}", STEWARD.password
    ) as client:
        yield client


def statement_key(case_id: str) -> str:
    return idempotency_key(case_id, Audience.PUBLIC, "wiki-page", "r1")


async def authors(wiki: MediaWikiClient) -> list[tuple[int, str, str]]:
    """(revid, user, summary) of the log page's revisions, oldest first."""
    params = {
        "action": "query",
        "prop": "revisions",
        "titles": LOG_PAGE,
        "rvprop": "ids|user|comment",
        "rvlimit": "max",
        "rvdir": "newer",
        "format": "json",
        "formatversion": "2",
    }
    async with aiohttp.ClientSession() as http, http.get(wiki.api_url, params=params) as reply:
        body: dict[str, Any] = await reply.json()
    (page,) = body["query"]["pages"]
    return [(r["revid"], r["user"], r["comment"]) for r in page.get("revisions", [])]


# --- "already published" --------------------------------------------------------------------


async def test_a_hidden_marker_by_someone_else_does_not_suppress_the_statement(
    store: DocumentStore,
    wiki: MediaWikiClient,
    steward: MediaWikiClient,
    inbox: tuple[Inbox, int],
) -> None:
    case_id = "OA-MARKER1"
    await steward.edit(
        LOG_PAGE,
        appendtext=f"\n<!-- casework:{case_id} --><!-- casework:{case_id}:reversed -->",
        summary="hiding a statement",
    )
    _, port = inbox
    await approve_and_enforce(notifier(store, wiki, port), case_id)
    page = await wiki.page(LOG_PAGE)
    assert page is not None and page.text.count(f"== {case_id}:") == 1
    record = await Deliveries(store).get(statement_key(case_id))
    assert record is not None and record["state"] == "sent"
    revid = int(record["reference"].rsplit("oldid=", 1)[1])
    assert (revid, ROLE_ACCOUNT) in {(r, u) for r, u, _ in await authors(wiki)}


async def test_after_a_crash_our_own_edit_counts_and_nobody_elses(
    store: DocumentStore,
    wiki: MediaWikiClient,
    steward: MediaWikiClient,
    inbox: tuple[Inbox, int],
) -> None:
    """A record left `sending` (killed between the edit and the record): the role
    account's edit with our summary means done; the same summary by another user does not."""
    _, port = inbox
    ours, theirs = "OA-RESUME1", "OA-RESUME2"
    for case_id in (ours, theirs):
        await Deliveries(store).begin(
            statement_key(case_id),
            {"case_id": case_id, "audience": "public", "channel": "wiki-page"},
        )
    done = await wiki.edit(
        LOG_PAGE,
        appendtext=f"\n== {ours}: the statement made before the crash ==",
        summary=f"Office action {ours}: public statement",
    )
    await steward.edit(
        LOG_PAGE,
        appendtext=f"\n<!-- casework:{theirs} -->",
        summary=f"Office action {theirs}: public statement",
    )
    service = notifier(store, wiki, port)
    for case_id in (ours, theirs):
        await approve_and_enforce(service, case_id)
    page = await wiki.page(LOG_PAGE)
    assert page is not None
    assert page.text.count(f"== {ours}:") == 1  # not published twice
    assert page.text.count(f"== {theirs}:") == 1  # published despite the look-alike
    mine = await Deliveries(store).get(statement_key(ours))
    assert mine is not None and mine["reference"] == f"{LOG_PAGE}?oldid={done.newrevid}"
    other = await Deliveries(store).get(statement_key(theirs))
    assert other is not None and other["state"] == "sent"
    revid = int(other["reference"].rsplit("oldid=", 1)[1])
    assert (revid, ROLE_ACCOUNT) in {(r, u) for r, u, _ in await authors(wiki)}


async def test_a_forged_statement_marker_gets_no_reversal_line(
    store: DocumentStore,
    wiki: MediaWikiClient,
    steward: MediaWikiClient,
    inbox: tuple[Inbox, int],
) -> None:
    """A reversal is appended only where we published a statement (our records)."""
    case_id = "OA-NOSTMT1"
    await steward.edit(LOG_PAGE, appendtext=f"\n<!-- casework:{case_id} -->", summary="forged")
    _, port = inbox
    service = notifier(store, wiki, port)
    await service.handle(
        signed(
            DecisionReversed.model_validate(
                {
                    "case_id": case_id,
                    "decision": decision(),
                    "reason": "Appeal upheld: the account was compromised.",
                    "reversed_by": "bob",
                    "reversed_at": NOW.isoformat(),
                    "grounds": "error",
                    "approvals": [
                        a.model_dump(mode="json") for a in reversal_approvals(POLICY, 4, NOW)
                    ],
                }
            )
        )
    )
    page = await wiki.page(LOG_PAGE)
    assert page is not None and "Reversed" not in page.text
    key = idempotency_key(case_id, Audience.PUBLIC, "wiki-page", "reversed")
    assert await Deliveries(store).get(key) is None
    # Where we did publish, the reversal line follows (the check is not simply "never").
    published = "OA-STMT2"
    await approve_and_enforce(service, published)
    await service.handle(
        signed(
            DecisionReversed.model_validate(
                {
                    "case_id": published,
                    "decision": decision(),
                    "reason": "Appeal upheld.",
                    "reversed_by": "bob",
                    "reversed_at": NOW.isoformat(),
                    "grounds": "error",
                    "approvals": [
                        a.model_dump(mode="json") for a in reversal_approvals(POLICY, 4, NOW)
                    ],
                }
            )
        )
    )
    page = await wiki.page(LOG_PAGE)
    assert page is not None and page.text.count(f"({published}, ") == 1


# --- the log page is the role account's -------------------------------------------------------


async def test_the_log_page_is_created_and_protected_by_the_role_account(
    wiki: MediaWikiClient, steward: MediaWikiClient, fresh_wiki: SandboxWiki
) -> None:
    assert await protect_log_page(wiki, LOG_PAGE) is True
    state = await wiki.page_state(LOG_PAGE)
    assert state.exists
    held = {p.type: (p.level, p.expiry) for p in state.protection}
    assert held == {kind: (level, None) for kind, level in LEVELS.items()}
    assert {u for _, u, _ in await authors(wiki)} == {ROLE_ACCOUNT}
    assert await protect_log_page(wiki, LOG_PAGE) is False  # nothing left to do
    # A user who is no administrator cannot change it any more.
    async with MediaWikiClient(fresh_wiki.api_url, "Vandal1", "vandal1-sandbox-password") as vandal:
        with pytest.raises(MediaWikiError) as refused:
            await vandal.edit(LOG_PAGE, appendtext="<!-- casework:OA-X -->", summary="x")
    assert refused.value.code in {"protectedpage", "permissiondenied"}
    # Unprotected by someone else: the next start protects it again.
    await steward.protect(LOG_PAGE, protections={"edit": "all", "move": "all"}, reason="test")
    assert await protect_log_page(wiki, LOG_PAGE) is True
    state = await wiki.page_state(LOG_PAGE)
    assert {p.type: p.level for p in state.protection} == LEVELS


# --- delivery keys without addresses ---------------------------------------------------------


async def test_functionary_keys_carry_no_address_and_old_keys_still_dedupe(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    listing = load_functionaries(ROOT / "deploy" / "functionaries.yaml")
    service = notifier(store, wiki, port, functionaries=listing)
    await service.handle(approved_event("OA-KEYS1"))
    assert len(box.to(FUNCTIONARIES)) == 1
    keys = [d["_id"] for d in await store.find(DELIVERIES, {"case_id": "OA-KEYS1"})]
    assert keys and all("@" not in k and FUNCTIONARIES not in k for k in keys)
    assert (
        idempotency_key(
            "OA-KEYS1", Audience.FUNCTIONARIES, functionary_channel("sandbox", FUNCTIONARIES), "r1"
        )
        in keys
    )
    # A brief sent before the change, stored under the key that named the address.
    legacy = f"OA-KEYS2:functionaries:email-sandbox-{FUNCTIONARIES}:r1"
    await store.insert(
        DELIVERIES,
        {
            "_id": legacy,
            "case_id": "OA-KEYS2",
            "audience": "functionaries",
            "channel": "email",
            "state": "sent",
            "reference": "<old@officeactions.casework>",
        },
    )
    assert await service.notify.sender.deliveries.rekey_addresses(list(listing.wikis)) == 1
    assert await store.get(DELIVERIES, legacy) is None
    assert await service.notify.sender.deliveries.rekey_addresses(list(listing.wikis)) == 0
    await service.handle(approved_event("OA-KEYS2"))  # the event redelivered after the upgrade
    assert len(box.to(FUNCTIONARIES)) == 1, "the brief was sent a second time"
    moved = await store.get(DELIVERIES, address_free_key(legacy, ["sandbox"]) or "")
    assert moved is not None and moved["reference"] == "<old@officeactions.casework>"


def test_old_keys_map_to_the_new_ones() -> None:
    new = functionary_channel("en-wiki", "jane-doe@example.org")
    assert address_free_key(
        "OA-1:functionaries:email-en-wiki-jane-doe@example.org:r2", ["en-wiki"]
    ) == (f"OA-1:functionaries:{new}:r2")
    assert address_free_key(f"OA-1:functionaries:{new}:r2") is None
    assert address_free_key("OA-1:affected-user:email:r1") is None
    assert functionary_channel("sandbox", "A@Example.org ") == functionary_channel(
        "sandbox", "a@example.org"
    )


# --- the deliveries API ---------------------------------------------------------------------


@pytest.mark.e2e
async def test_deliveries_api_wants_a_notify_assertion(stack: Stack) -> None:
    url = f"{stack.url('notify')}/api/v1/cases/OA-NOBODY/deliveries"
    forged, _ = assertions.issue(
        review_signer().private_key,  # the test session's key, not this stack's review key
        staff_id="alice",
        roles=["handler"],
        audience="notify",
        now=datetime.now(UTC),
    )
    async with aiohttp.ClientSession() as http:
        monitor_token = await _review_token(http, stack, "olga", "monitor")
        for headers, expected in [
            ({}, 401),
            ({"Authorization": "Bearer nonsense"}, 401),
            ({"Authorization": f"Bearer {forged}"}, 401),
            ({"Authorization": f"Bearer {monitor_token}"}, 401),  # aud monitor
        ]:
            async with http.get(url, headers=headers) as reply:
                assert reply.status == expected, headers
                body = await reply.json()
                assert set(body) == {"error", "message", "errors"}
        for staff in ("alice", "otto", "carol"):
            token = await notify_token(http, stack, staff)
            async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as reply:
                assert reply.status == 200, staff
                assert (await reply.json()) == {"deliveries": []}
        async with http.get(f"{stack.url('notify')}/healthz") as reply:
            assert reply.status == 200


async def _review_token(
    http: aiohttp.ClientSession, stack: Stack, staff: str, audience: str
) -> str:
    async with http.post(
        f"{stack.url('review')}/api/v1/assertions",
        json={"audience": audience},
        headers={"Authorization": f"Bearer demo-{staff}-token"},
    ) as reply:
        assert reply.status == 200, await reply.text()
        return str((await reply.json())["token"])

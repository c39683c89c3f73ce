"""End to end: a case approved through review's API shows, in review's API, that it was
enforced on the wiki and that its affected user and the public were told, once the block,
the email and the public statement exist. Every service is its own process over the real
Tansu broker, the sandbox MediaWiki and a real SMTP server (tests/fixtures/stack.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from casework.mediawiki import MediaWikiClient
from tests.fixtures.stack import Stack
from tests.support import eventually
from tests.test_end_to_end import approve, messages_to, submit_and_open, token

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]
LOG_PAGE = "Office actions log"


async def test_review_shows_an_approved_case_enforced_and_told(
    stack: Stack, http: aiohttp.ClientSession, wiki_client: MediaWikiClient
) -> None:
    account = "Outcome6"
    # A local account for the subject: enforcement refuses to act on a missing user.
    await asyncio.to_thread(
        stack.wiki.maintenance, "createAndPromote.php", account, "outcome6-password-e2e"
    )
    _, case_id = await submit_and_open(http, stack, account)
    await approve(http, stack, case_id, account)

    async def case() -> dict[str, Any]:
        async with http.get(
            f"{stack.url('review')}/api/v1/cases/{case_id}", headers=token("bob")
        ) as reply:
            assert reply.status == 200
            body: dict[str, Any] = await reply.json()
            return body

    seen: list[dict[str, Any]] = []

    async def told() -> dict[str, Any] | None:
        outcome: dict[str, Any] = (await case())["outcome"]
        seen[:] = [outcome]
        everyone = outcome["told"].get("affected-user") == "sent" == outcome["told"].get("public")
        return outcome if outcome["status"] == "enforced" and everyone else None

    try:
        outcome = await eventually(told, timeout=60, what=f"review to learn {case_id} told")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; review's outcome at the end: {seen}") from None
    # What review says is what happened: the block, the email and the statement exist.
    blocks = [b for b in await wiki_client.active_blocks(account) if case_id in b.reason]
    assert len(blocks) == 1
    assert set(outcome["wikis"].values()) == {"done"}
    assert any(op["kind"] == "block" and op["status"] == "done" for op in outcome["operations"])
    assert len(messages_to(stack, f"{account.lower()}@sandbox.test")) == 1
    page = await wiki_client.page(LOG_PAGE)
    assert page is not None and case_id in page.text
    body = await case()
    assert body["state"] == "approved"
    actions = [entry["action"] for entry in body["timeline"]]
    assert actions.count("enforced") == 1 and actions.count("told") >= 2

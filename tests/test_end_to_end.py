"""One office action end to end: intake → review → enforcement → notify.

Every service runs as its own process (`python -m services.<name>`) over the
real Tansu broker, the real sandbox MediaWiki and a real SMTP server.
"""

from __future__ import annotations

import email
import email.policy
from typing import Any

import aiohttp
import pytest

from casework import wikitext
from casework.mediawiki import MediaWikiClient
from services.review.domain.opening import case_id_for
from tests.fixtures.stack import Stack
from tests.support import eventually

pytestmark = pytest.mark.e2e

LOG_PAGE = "Office actions log"
STAFF_CHAIN = [
    ("case-handler", "alice"),
    ("ts-manager", "bob"),
    ("legal-counsel", "carol"),
    ("director", "dave"),
]
REQUESTER = {"name": "Rita Requester", "email": "rita.private@example.org", "language": "en"}


def token(staff: str) -> dict[str, str]:
    return {"Authorization": f"Bearer demo-{staff}-token"}


def ban_request(account: str) -> dict[str, Any]:
    return {
        "action": "global-ban",
        "summary": f"{account} has harassed several editors across talk pages for months.",
        "subject": {"account": account, "wikis": []},
        "evidence": [
            {
                "url": "http://127.0.0.1/index.php?diff=1",
                "description": "personal attack on a talk page",
                "where": "on-wiki-public",
            },
            {
                "url": "https://example.org/private-chat-log",
                "description": "threats sent in a private chat (SECRET-EVIDENCE-MARKER)",
                "where": "off-wiki-private",
            },
        ],
        "prior_attempts": ["http://127.0.0.1/index.php?title=Noticeboard&oldid=7"],
        "requester": REQUESTER,
    }


async def submit(http: aiohttp.ClientSession, stack: Stack, account: str) -> str:
    async with http.post(
        f"{stack.url('intake')}/api/v1/requests", json=ban_request(account)
    ) as reply:
        body = await reply.json()
        assert reply.status == 202, body
        reference: str = body["reference"]
        return reference


async def submit_and_open(
    http: aiohttp.ClientSession, stack: Stack, account: str
) -> tuple[str, str]:
    """Request a global ban of ``account``; return (reference, case id) once review has the case."""
    reference = await submit(http, stack, account)
    case_id = case_id_for(reference)
    await case_opened(http, stack, case_id)
    return reference, case_id


async def case_opened(http: aiohttp.ClientSession, stack: Stack, case_id: str) -> None:
    async def probe() -> bool:
        async with http.get(
            f"{stack.url('review')}/api/v1/cases/{case_id}", headers=token("alice")
        ) as reply:
            return reply.status == 200

    await eventually(probe, what=f"review to open {case_id}")


async def approve(http: aiohttp.ClientSession, stack: Stack, case_id: str, account: str) -> None:
    review = stack.url("review")
    decision = {
        "subject": {
            "account": account,
            "email": f"{account.lower()}@sandbox.test",
            "language": "en",
        },
        "wikis": [],
        "grounds": ["tou-4-harassment", "ucoc-3-1"],
        "public_rationale": "Sustained harassment of several contributors, on-wiki and off-wiki.",
    }
    async with http.put(
        f"{review}/api/v1/cases/{case_id}/decision", json=decision, headers=token("alice")
    ) as reply:
        assert reply.status == 200, await reply.text()
    for level, staff in STAFF_CHAIN:
        async with http.post(
            f"{review}/api/v1/cases/{case_id}/signoffs",
            json={"level": level, "verdict": "approve", "comment": f"{staff} approves"},
            headers=token(staff),
        ) as reply:
            body = await reply.json()
            assert reply.status == 201, body
    assert body["state"] == "approved"


async def block_log_entries(session: aiohttp.ClientSession, api: str, account: str) -> list[Any]:
    params = {
        "action": "query",
        "list": "logevents",
        "letype": "block",
        "letitle": f"User:{account}",
        "format": "json",
        "formatversion": "2",
    }
    async with session.get(api, params=params) as reply:
        data = await reply.json()
    entries: list[Any] = data["query"]["logevents"]
    return entries


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"metric {name} not exported")


def messages_to(stack: Stack, address: str) -> list[email.message.EmailMessage]:
    found = []
    for kept in stack.mail.messages():
        parsed = email.message_from_bytes(bytes(kept), policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        if parsed["To"] == address:
            found.append(parsed)
    return found


async def assert_banned_and_told(
    stack: Stack, wiki_client: MediaWikiClient, case_id: str, account: str
) -> None:
    """The account is blocked once, told by email, and the public log says only public things."""

    async def blocked() -> Any:
        blocks = await wiki_client.active_blocks(account)
        return [b for b in blocks if case_id in b.reason]

    [block] = await eventually(blocked, what=f"{account} blocked on the wiki")
    assert block.infinite and block.nocreate and block.autoblock and not block.partial
    assert block.by == "OfficeActions"
    address = f"{account.lower()}@sandbox.test"

    async def email_arrived() -> Any:
        return messages_to(stack, address)

    [message] = await eventually(email_arrived, what="the affected user's email")
    assert case_id in message["Subject"]
    assert message["Content-Language"] == "en"
    plain = message.get_body(("plain",))
    assert plain is not None and message.get_body(("html",)) is not None
    body_text = plain.get_content()
    assert "Global ban" in body_text
    assert "4 — Engaging in harassment and abuse" in body_text
    assert "3.1 — Harassment" in body_text
    assert "indefinitely" in body_text

    async def statement() -> Any:
        page = await wiki_client.page(LOG_PAGE)
        return page if page is not None and case_id in page.text else None

    page = await eventually(statement, what="the public statement on the wiki")
    assert wikitext.link_to_user(account) in page.text
    assert "Terms of Use" in page.text and "Universal Code of Conduct" in page.text
    for private in (REQUESTER["email"], REQUESTER["name"], address, "SECRET"):
        assert private not in page.text
    for private in (REQUESTER["email"], REQUESTER["name"], "SECRET"):
        assert private not in body_text

    async with aiohttp.ClientSession() as anonymous:
        entries = await block_log_entries(anonymous, stack.wiki.api_url, account)
    assert len(entries) == 1


async def test_global_ban_travels_through_every_service(
    stack: Stack,
    http: aiohttp.ClientSession,
    wiki_client: MediaWikiClient,
) -> None:
    _, case_id = await submit_and_open(http, stack, "Vandal1")

    # Separation of duties is enforced by the server, before the chain completes.
    async with http.put(
        f"{stack.url('review')}/api/v1/cases/{case_id}/decision",
        json={
            "subject": {"account": "Vandal1", "email": "vandal1@sandbox.test"},
            "grounds": ["tou-4-harassment"],
            "public_rationale": "draft",
        },
        headers=token("alice"),
    ) as reply:
        assert reply.status == 200
    async with http.post(
        f"{stack.url('review')}/api/v1/cases/{case_id}/signoffs",
        json={"level": "case-handler", "verdict": "approve", "comment": "ok"},
        headers=token("alice"),
    ) as reply:
        assert reply.status == 201
    async with http.post(
        f"{stack.url('review')}/api/v1/cases/{case_id}/signoffs",
        json={"level": "ts-manager", "verdict": "approve", "comment": "me again"},
        headers=token("alice"),
    ) as reply:
        body = await reply.json()
        assert reply.status == 403
        assert body["errors"][0]["field"] == "level"

    # The final draft restarts the chain; four different people sign it.
    await approve(http, stack, case_id, "Vandal1")

    await assert_banned_and_told(stack, wiki_client, case_id, "Vandal1")


@pytest.mark.parametrize(
    ("crash_point", "account"),
    [("enforcement.before-commit", "Harasser2"), ("enforcement.after-wiki-call", "Goodfaith3")],
)
async def test_enforcement_killed_mid_decision_acts_once(
    stack: Stack,
    http: aiohttp.ClientSession,
    wiki_client: MediaWikiClient,
    crash_point: str,
    account: str,
) -> None:
    """SIGKILL enforcement after it consumed the decision (block done, offset not committed);
    the restarted process must neither block twice nor let notify email twice."""
    stack.services["enforcement"].stop()
    crashing = stack.start_service("enforcement", {"CASEWORK_CRASH_AT": crash_point})
    crashing.wait_healthy(60)

    _, case_id = await submit_and_open(http, stack, account)
    await approve(http, stack, case_id, account)

    async def crashed() -> bool:
        return not crashing.running

    await eventually(crashed, timeout=60, what=f"enforcement to die at {crash_point}")
    assert crashing.process is not None and crashing.process.returncode == -9
    blocks = [b for b in await wiki_client.active_blocks(account) if case_id in b.reason]
    assert len(blocks) == 1, "the block was made before the crash"

    restarted = stack.start_service("enforcement")
    restarted.wait_healthy(60)
    address = f"{account.lower()}@sandbox.test"

    async def email_arrived() -> Any:
        return messages_to(stack, address)

    await eventually(email_arrived, timeout=60, what="the email after the restart")

    async def statement() -> Any:
        page = await wiki_client.page(LOG_PAGE)
        return page if page is not None and case_id in page.text else None

    page = await eventually(statement, what="the public statement after the restart")

    async def redelivered_decision_handled() -> bool:
        # The crashed process never committed the decision: the new one is handed it again.
        async with http.get(f"{restarted.url}/metrics") as reply:
            text = await reply.text()
        return metric(text, "consumer_events_handled") >= 1

    await eventually(redelivered_decision_handled, what="the redelivered decision handled")
    async with aiohttp.ClientSession() as anonymous:
        entries = await block_log_entries(anonymous, stack.wiki.api_url, account)
    assert len(entries) == 1, entries
    assert len(messages_to(stack, address)) == 1
    assert page.text.count(f"casework:{case_id}") == 1

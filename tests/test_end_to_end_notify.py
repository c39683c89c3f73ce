"""Every audience told what it may know, end to end: intake → review → enforcement → notify.

Every service runs as its own process over the real Tansu broker, the sandbox
MediaWiki and a real SMTP server (aiosmtpd keeping a Maildir). For a global
ban, a DMCA takedown and a conduct warning, each audience's message is read
where it arrived: the requester's acknowledgement and outcome (threaded), the
functionaries' brief, the affected user's email and the public log page (none
for the confidential warning).
"""

from __future__ import annotations

import asyncio
import email.message
from typing import Any

import aiohttp
import pytest

from casework.mediawiki import MediaWikiClient
from services.review.domain.opening import case_id_for
from tests.fixtures.stack import Stack
from tests.support import eventually
from tests.test_end_to_end import LOG_PAGE, case_opened, messages_to, token

pytestmark = pytest.mark.e2e

FUNCTIONARIES = "functionaries@sandbox.test"
CHAINS = {
    "global-ban": [
        ("case-handler", "alice"),
        ("ts-manager", "bob"),
        ("legal-counsel", "carol"),
        ("director", "dave"),
    ],
    "dmca-takedown": [("case-handler", "alice"), ("legal-counsel", "carol")],
    "conduct-warning": [("case-handler", "alice"), ("ts-manager", "bob")],
}
EVERYONE = ["public", "affected-user", "requester", "functionaries"]


def requester(tag: str) -> dict[str, str]:
    return {"name": f"Requester {tag}", "email": f"req.{tag.lower()}@example.org", "language": "en"}


async def account(stack: Stack, name: str) -> None:
    """A local account for the subject: enforcement refuses to act on a missing user."""
    await asyncio.to_thread(
        stack.wiki.maintenance, "createAndPromote.php", name, f"{name.lower()}-password-e2e"
    )


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> str:
    async with http.post(url, json=body) as reply:
        answer = await reply.json()
        assert reply.status == 202, answer
        reference: str = answer["reference"]
        return reference


async def decide(
    http: aiohttp.ClientSession, stack: Stack, case_id: str, action: str, decision: dict[str, Any]
) -> None:
    review = stack.url("review")
    async with http.put(
        f"{review}/api/v1/cases/{case_id}/decision", json=decision, headers=token("alice")
    ) as reply:
        assert reply.status == 200, await reply.text()
    for level, staff in CHAINS[action]:
        async with http.post(
            f"{review}/api/v1/cases/{case_id}/signoffs",
            json={"level": level, "verdict": "approve", "comment": f"SECRET-COMMENT {staff}"},
            headers=token(staff),
        ) as reply:
            body = await reply.json()
            assert reply.status == 201, body
    assert body["state"] == "approved", body


async def one_message(stack: Stack, address: str, needle: str) -> email.message.EmailMessage:
    async def arrived() -> list[email.message.EmailMessage]:
        return [m for m in messages_to(stack, address) if needle in str(m["Subject"])]

    try:
        [message] = await eventually(arrived, timeout=60, what=f"mail to {address} about {needle}")
    except AssertionError as exc:
        tails = "\n".join(
            f"--- {name}\n{process.log_tail(30)}" for name, process in stack.services.items()
        )
        raise AssertionError(f"{exc}\n{tails}") from exc
    return message


def text(message: email.message.EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None and message.get_body(("html",)) is not None
    return str(part.get_content())


async def notify_token(http: aiohttp.ClientSession, stack: Stack, staff: str = "alice") -> str:
    """A staff assertion for notify's API, asked of review the way staff tools ask."""
    async with http.post(
        f"{stack.url('review')}/api/v1/assertions",
        json={"audience": "notify"},
        headers={"Authorization": f"Bearer demo-{staff}-token"},
    ) as reply:
        assert reply.status == 200, await reply.text()
        answer: dict[str, Any] = await reply.json()
    return str(answer["token"])


async def deliveries(http: aiohttp.ClientSession, stack: Stack, case_id: str) -> dict[str, Any]:
    async with http.get(
        f"{stack.url('notify')}/api/v1/cases/{case_id}/deliveries",
        headers={"Authorization": f"Bearer {await notify_token(http, stack)}"},
    ) as reply:
        assert reply.status == 200, await reply.text()
        body = await reply.json()
    return {d["key"]: d for d in body["deliveries"]}


async def statement_on_log(wiki_client: MediaWikiClient, case_id: str) -> str:
    async def published() -> str | None:
        page = await wiki_client.page(LOG_PAGE)
        return page.text if page is not None and f"casework:{case_id}" in page.text else None

    found: str = await eventually(published, timeout=60, what=f"statement of {case_id}")
    return found


async def test_global_ban_every_audience(
    stack: Stack, http: aiohttp.ClientSession, wiki_client: MediaWikiClient
) -> None:
    await account(stack, "Harasser9")
    who = requester("Ban")
    reference = await post(
        http,
        f"{stack.url('intake')}/api/v1/requests",
        {
            "action": "global-ban",
            "summary": "Harasser9 has harassed several editors across talk pages for months.",
            "subject": {"account": "Harasser9", "wikis": []},
            "evidence": [
                {
                    "url": "http://127.0.0.1/index.php?diff=9",
                    "description": "personal attack on a talk page",
                    "where": "on-wiki-public",
                },
                {
                    "url": "https://example.org/private-chat-log",
                    "description": "threats in a private chat (SECRET-EVIDENCE)",
                    "where": "off-wiki-private",
                },
            ],
            "prior_attempts": ["http://127.0.0.1/index.php?title=Noticeboard&oldid=7"],
            "requester": who,
        },
    )
    case_id = case_id_for(reference)
    ack = await one_message(stack, who["email"], reference)
    assert reference in text(ack)
    await case_opened(http, stack, case_id)
    await decide(
        http,
        stack,
        case_id,
        "global-ban",
        {
            "subject": {
                "account": "Harasser9",
                "email": "harasser9@sandbox.test",
                "language": "en",
            },
            "grounds": ["tou-4-harassment", "ucoc-3-1"],
            "public_rationale": "Sustained harassment of several contributors.",
            "evidence": [
                {"id": "E1", "audiences": ["public"]},
                {"id": "E2", "audiences": ["functionaries"]},
            ],
            "disclosure": {
                "answers": {
                    q: {"audiences": EVERYONE, "grounds": ""}
                    for q in ("clauses", "where", "language-expertise", "public-actions")
                }
                | {"legal-determination": {"audiences": [], "grounds": "legal privilege"}}
            },
        },
    )

    brief = await one_message(stack, FUNCTIONARIES, case_id)
    brief_text = text(brief)
    assert "SECRET-EVIDENCE" in brief_text  # released to functionaries under NDA
    assert who["email"] not in brief_text and "SECRET-COMMENT" not in brief_text

    outcome = await one_message(stack, who["email"], "action taken")
    assert outcome["In-Reply-To"] == ack["Message-ID"]
    outcome_text = text(outcome)
    assert "Global ban" in outcome_text and "personal attack" in outcome_text
    assert "harasser9@sandbox.test" not in outcome_text and "SECRET" not in outcome_text

    user = await one_message(stack, "harasser9@sandbox.test", case_id)
    assert user["Content-Language"] == "en"
    user_text = text(user)
    assert "3.1 — Harassment" in user_text and "personal attack" in user_text
    assert "SECRET" not in user_text and who["name"] not in user_text
    # Withheld "for legal privilege", but no determination was ever made: nothing is
    # withheld, and the email says there is none (issue 18), not "not disclosed".
    assert "No legal determination was made in this case." in user_text
    assert "Not disclosed" not in user_text

    log = await statement_on_log(wiki_client, case_id)
    section = log[log.index(f"casework:{case_id}") :]
    assert "Universal Code of Conduct" in section and "personal attack" in section
    for private in ("SECRET", who["email"], who["name"], "harasser9@sandbox.test"):
        assert private not in section
    everyone_sent = {
        "requester": "sent",
        "functionaries": "sent",
        "affected-user": "sent",
        "public": "sent",
    }

    async def all_recorded() -> bool:
        found = (await deliveries(http, stack, case_id)).values()
        return {d["audience"]: d["state"] for d in found} == everyone_sent

    await eventually(all_recorded, what="every delivery recorded as sent")


async def test_dmca_takedown_every_audience(
    stack: Stack, http: aiohttp.ClientSession, wiki_client: MediaWikiClient
) -> None:
    page = "Harbour at dawn (copy)"
    await wiki_client.edit(page, text="A copied photograph description.", summary="upload")
    await account(stack, "Uploader7")
    who = requester("Dmca")
    wiki = f"http://127.0.0.1:{stack.ports.wiki}"
    reference = await post(
        http,
        f"{stack.url('intake')}/api/v1/submissions/dmca-notice",
        {
            "copyrighted_work": "The photograph 'Harbour at dawn' (2024).",
            "infringing_material": "A copy of the photograph posted without licence.",
            "locations": [f"{wiki}/index.php?title=Harbour_at_dawn_(copy)"],
            "contact_address": "1 Quay Street, Portsmouth, UK (SECRET-ADDRESS)",
            "good_faith_statement": True,
            "accuracy_statement": True,
            "signature": who["name"],
            "requester": who,
        },
    )
    case_id = case_id_for(reference)
    await one_message(stack, who["email"], reference)
    await case_opened(http, stack, case_id)
    await decide(
        http,
        stack,
        case_id,
        "dmca-takedown",
        {
            "subject": {
                "account": "Uploader7",
                "email": "uploader7@sandbox.test",
                "language": "ru",
            },
            "grounds": ["tou-4-infringement"],
            "public_rationale": "A copyrighted photograph posted without licence.",
            "content": {"pages": [{"wiki": "sandbox", "title": page, "removal": "delete"}]},
        },
    )
    user = await one_message(stack, "uploader7@sandbox.test", case_id)
    assert user["Content-Language"] == "ru"
    user_text = text(user)
    # The action's title in the user's language (issue 18 §3), not the policy's English.
    assert "Удаление по уведомлению DMCA" in user_text and "Здравствуйте" in user_text
    assert "DMCA takedown" not in user_text
    assert who["name"] not in user_text and "SECRET" not in user_text
    log = await statement_on_log(wiki_client, case_id)
    section = log[log.index(f"casework:{case_id}") :]
    assert "DMCA takedown" in section
    assert who["name"] not in section and "SECRET" not in section
    outcome = await one_message(stack, who["email"], "action taken")
    assert "DMCA takedown" in text(outcome)


async def test_conduct_warning_is_confidential(
    stack: Stack, http: aiohttp.ClientSession, wiki_client: MediaWikiClient
) -> None:
    await account(stack, "Rude5")
    who = requester("Warn")
    reference = await post(
        http,
        f"{stack.url('intake')}/api/v1/requests",
        {
            "action": "conduct-warning",
            "summary": "Rude5 keeps making rude remarks at new editors on talk pages.",
            "subject": {"account": "Rude5", "wikis": []},
            "evidence": [
                {
                    "url": "http://127.0.0.1/index.php?diff=5",
                    "description": "rude remark",
                    "where": "on-wiki-public",
                }
            ],
            "requester": who,
        },
    )
    case_id = case_id_for(reference)
    await case_opened(http, stack, case_id)
    await decide(
        http,
        stack,
        case_id,
        "conduct-warning",
        {
            "subject": {"account": "Rude5", "email": "rude5@sandbox.test", "language": "en"},
            "grounds": ["ucoc-3-1"],
            "public_rationale": "Repeated incivility towards new contributors.",
            "disclosure": {
                "public_statement": False,
                "confidential_grounds": "a first warning is private to the user",
            },
        },
    )
    user = await one_message(stack, "rude5@sandbox.test", case_id)
    assert "Conduct warning" in text(user)

    async def recorded() -> dict[str, Any] | None:
        found = await deliveries(http, stack, case_id)
        public = [d for d in found.values() if d["audience"] == "public"]
        return public[0] if public else None

    public = await eventually(recorded, what="the withheld public statement recorded")
    assert public["state"] == "withheld"
    assert "a first warning is private to the user" in public["reference"]
    log = await wiki_client.page(LOG_PAGE)
    assert log is None or case_id not in log.text
    outcome = await one_message(stack, who["email"], "action taken")
    assert "Conduct warning" in text(outcome)

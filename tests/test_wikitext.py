"""Values written into wikitext stay plain text (casework.wikitext), checked by the real
sandbox MediaWiki: the text is saved on a page by the role account, then the page is
parsed through the API and we read which categories, magic words, templates and links
took effect."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from casework import wikitext
from casework.contract import ActionEnforced, Decision
from casework.mediawiki import MediaWikiClient
from casework.policy import load_policy
from deploy.sandbox_wiki import SandboxWiki
from services.enforcement.adapters.notices import NoticeRenderer
from services.notify.domain.render import environment, public_reversal, public_statement
from services.notify.domain.views import ReversalView, public_view

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
HOSTILE_NAMES = [
    "__NOTOC__x",
    "Foo]][[Category:X",
    "Foo|bar]] [[Category:Injected",
    "{{SITENAME}}",
    "~~~~",
    "<b>bold</b>",
    "'''Bold''' == Heading ==",
    "http://evil.example/",
    "A&amp;B &#91;",
]


@pytest.fixture
async def wiki(fresh_wiki: SandboxWiki) -> AsyncIterator[MediaWikiClient]:
    user, password = fresh_wiki.credentials()
    async with MediaWikiClient(fresh_wiki.api_url, user, password) as client:
        yield client


async def parsed(wiki: MediaWikiClient, title: str) -> dict[str, Any]:
    """The page as the wiki renders it: its HTML, categories, page properties, links."""
    params = {
        "action": "parse",
        "page": title,
        "prop": "text|categories|properties|links|templates|externallinks",
        "format": "json",
        "formatversion": "2",
    }
    async with aiohttp.ClientSession() as http, http.get(wiki.api_url, params=params) as reply:
        body: dict[str, Any] = await reply.json()
    return body["parse"]


def assert_inert(page: dict[str, Any]) -> None:
    assert page["categories"] == [], page["categories"]
    assert page["properties"] == {} or "notoc" not in page["properties"], page["properties"]
    assert page["templates"] == []
    assert page["externallinks"] == []
    assert "<b>bold</b>" not in page["text"] and "<script" not in page["text"]
    assert "Sandbox Wiki" not in page["text"]  # {{SITENAME}} was not expanded


def test_escape_leaves_no_markup_character() -> None:
    for name in HOSTILE_NAMES:
        escaped = wikitext.escape(name)
        for char in "[]{}|<>'=~_:":
            assert char not in escaped.replace("&#", "").replace(";", ""), (name, char)
    assert wikitext.escape("Vandal 1") == "Vandal 1"
    assert wikitext.link_to_user("a_b") == "[[User:a&#95;b|a&#95;b]]"
    # A name no page can have (MediaWiki refuses these characters in titles): no link.
    assert wikitext.link_to_user("Foo]][[Category:X") == wikitext.escape("Foo]][[Category:X")
    assert wikitext.nowiki("</nowiki>[[x]]") == "<nowiki>&lt;/nowiki&gt;[[x]]</nowiki>"


@given(st.text(max_size=60))
def test_escape_is_reversible_by_an_html_reader(text: str) -> None:
    """What the reader sees is the value itself: character references decode back."""
    flat = text.replace("\n", " ").replace("\r", " ").replace("\t", " ")
    assert html.unescape(wikitext.escape(text)) == html.unescape(flat.replace("&", "&amp;"))


async def test_hostile_user_names_render_as_plain_text(wiki: MediaWikiClient) -> None:
    lines = [f"* {wikitext.link_to_user(name)} {wikitext.escape(name)}" for name in HOSTILE_NAMES]
    heading = "".join(f"== Section {n} ==\ntext\n" for n in range(4))  # a TOC from four on
    await wiki.edit("Wikitext test", text=heading + "\n".join(lines), summary="escape test")
    page = await parsed(wiki, "Wikitext test")
    assert_inert(page)
    assert 'id="toc"' in page["text"]  # __NOTOC__ did not apply
    links = {link["title"] for link in page["links"]}
    assert (
        "User:NOTOC x" in links
        or "User:NOTOC x".replace(" ", "_") in links
        or any("NOTOC" in t for t in links)
    )
    visible = html.unescape(re.sub(r"<[^>]+>", "", page["text"]))
    for name in HOSTILE_NAMES:
        assert f"{name} {name}" in visible, name  # the link's label, then the plain text


def enforced_for(account: str) -> ActionEnforced:
    """An enforced global ban whose account the contract would refuse: the renderers
    must be safe on their own, not only behind the contract's validation."""
    event = ActionEnforced.model_validate(
        {
            "case_id": "OA-WIKITEXT0001",
            "decision": {
                "action_type": "global-ban",
                "subject": {"account": "Placeholder", "language": "en"},
                "grounds": [
                    {
                        "id": "ucoc-3-1",
                        "catalogue_version": POLICY.clauses.version,
                        **POLICY.clauses.items["ucoc-3-1"].model_dump(),
                    }
                ],
                "public_rationale": "__NOTOC__ [[Category:Rationale]] {{SITENAME}} ~~~~",
                "appealable": False,
            },
            "operations": [
                {"wiki": "sandbox", "kind": "block", "target": "Placeholder", "status": "done"}
            ],
            "enforced_at": datetime(2026, 11, 20, 12, 0, tzinfo=UTC).isoformat(),
        }
    )
    subject = event.decision.subject.model_copy(update={"account": account})
    decision = event.decision.model_copy(update={"subject": subject})
    return event.model_copy(update={"decision": decision})


@pytest.mark.parametrize("account", ["__NOTOC__x", "Foo]][[Category:X", "x [[Category:X]]"])
async def test_public_statement_and_reversal_for_a_hostile_account(
    wiki: MediaWikiClient, account: str
) -> None:
    env = environment()
    enforced = enforced_for(account)
    view = public_view(enforced, POLICY)
    assert view.account == account
    statement = public_statement(env, view)
    reversal = public_reversal(
        env,
        ReversalView(
            case_id=enforced.case_id,
            action_title="Global ban",
            account=account,
            wikis=["sandbox"],
            at=enforced.enforced_at,
            reason="[[Category:Reversal]] __NOTOC__",
            language="en",
            contact_address="ts@officeactions.test",
        ),
    )
    text = "".join(f"== {n} ==\n{n}\n" for n in "ABCD") + statement + "\n" + reversal
    await wiki.edit("Log injection test", text=text, summary="statement test")
    page = await parsed(wiki, "Log injection test")
    assert_inert(page)
    assert 'id="toc"' in page["text"]


@pytest.mark.parametrize("account", ["__NOTOC__x", "Foo]][[Category:X", "x [[Category:X]]"])
async def test_enforcement_notice_for_a_hostile_account_and_log_title(
    wiki: MediaWikiClient, account: str
) -> None:
    decision: Decision = enforced_for(account).decision
    notice = NoticeRenderer("Office actions log [[Category:Notice]] __NOTOC__").render(
        decision, "Global ban {{SITENAME}}", "OA-WIKITEXT0001", f"User:{account}"
    )
    await wiki.edit("Notice injection test", text=notice, summary="notice test")
    page = await parsed(wiki, "Notice injection test")
    assert_inert(page)

"""The console in Russian names the policy's things in Russian (issue 18 §3): the sign-off
chain, the signatures, the missing levels and the sign-off form by the levels' Russian
titles, the decision's action and grounds by the policy's Russian words, the queue's next
level and action, the staff pages' levels. Each Russian page is walked for every English
policy string (action and level titles, clause sources, sections and texts) and fails on
any; the English page still shows them, so the walk can fail.

Review runs in this process over real HTTP and SQLite (tests/test_review_auth_support.py);
the console pages are read with a demo token, as the queue test does."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from casework.contract import ClauseGround
from casework.contract.decision import ClauseText
from services.review.domain.opening import case_id_for
from services.review.entrypoints.console.policy_words import PolicyWords
from services.review.entrypoints.console.render import PAGES
from tests.review_support import module_review  # noqa: F401 (the review fixture)
from tests.test_review_auth_support import POLICY, Review, receive, submission

LEVELS = ["case-handler", "ts-manager", "legal-counsel", "director"]  # a global ban's chain
GROUNDS = ["tou-4-harassment", "ucoc-3-1"]


def english_policy_strings() -> set[str]:
    """Every policy string whose Russian differs from the English original."""
    found: set[str] = set()
    for group, keys in (
        ("action_types", POLICY.action_types),
        ("signoff_levels", POLICY.signoff_levels),
    ):
        for key in keys:
            if POLICY.text("en", group, key) != POLICY.text("ru", group, key):
                found.add(POLICY.text("en", group, key))
    for clause in POLICY.clauses.items:
        for field in ("source", "section", "text"):
            english = POLICY.text("en", "clauses", clause, field)
            if english != POLICY.text("ru", "clauses", clause, field):
                found.add(english)
    return found


def section(page: str, name: str) -> str:
    """One ``<section id=…>`` of a page, as text a reader sees (entities decoded)."""
    found = re.search(rf'<section id="{name}">(.*?)</section>', page, re.S)
    assert found is not None, f"no section {name}"
    return html.unescape(found.group(1))


def english_in(text: str) -> list[str]:
    return sorted(s for s in english_policy_strings() if s in text)


async def call(
    review: Review, method: str, path: str, staff_id: str, body: Any = None, lang: str = "en"
) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer demo-{staff_id}-token", "Accept-Language": lang}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, review.url + path, headers=headers, json=body) as reply:
            return reply.status, await reply.text()


@pytest.fixture(scope="module")
async def case_id(review: Review) -> str:
    """A global ban drafted on two clauses and signed by the case handler."""
    made = submission("R-CONSOLERU222").model_copy(
        update={"received_at": datetime.now(UTC), "action_type": "global-ban"}
    )
    await receive(review, made)
    case_id = case_id_for("R-CONSOLERU222")
    draft = {
        "subject": {"account": "Troublesome Editor", "language": "ru"},
        "grounds": GROUNDS,
        "public_rationale": "Harassment.",
        "evidence": [{"id": "E1", "audiences": ["affected-user"]}],
    }
    path = f"/api/v1/cases/{case_id}"
    status, body = await call(review, "PUT", path + "/decision", "alice", draft)
    assert status == 200, body
    signed = {"level": "case-handler", "verdict": "approve", "comment": "Agreed."}
    status, body = await call(review, "POST", path + "/signoffs", "alice", signed)
    assert status == 201, body
    return case_id


async def test_the_case_page_in_russian_names_levels_action_and_grounds_in_russian(
    review: Review, case_id: str
) -> None:
    status, page = await call(review, "GET", f"/console/cases/{case_id}", "bob", lang="ru")
    assert status == 200 and 'lang="ru"' in page
    panel, decision = section(page, "signoff-panel"), section(page, "decision")
    russian = {lvl: POLICY.text("ru", "signoff_levels", lvl) for lvl in LEVELS}
    assert " → ".join(russian.values()) in panel  # the chain
    assert f"<td>{russian['case-handler']}</td>" in panel  # the signature
    missing = ", ".join(russian[lvl] for lvl in LEVELS[1:])
    assert f"{missing}</p>" in panel
    assert f'<option value="ts-manager">{russian["ts-manager"]}</option>' in panel  # the form
    assert POLICY.text("ru", "action_types", "global-ban") in decision
    for ground in GROUNDS:
        for field in ("source", "section", "text"):
            assert POLICY.text("ru", "clauses", ground, field) in decision
    assert english_in(panel) == [] and english_in(decision) == []
    facts = re.search(r'<dl class="facts">(.*?)</dl>', page, re.S)
    assert facts is not None and english_in(html.unescape(facts.group(1))) == []


async def test_the_case_page_in_english_keeps_the_english_titles(
    review: Review, case_id: str
) -> None:
    """The walk above can fail: the same sections in English hold the English strings."""
    _, page = await call(review, "GET", f"/console/cases/{case_id}", "bob", lang="en")
    panel, decision = section(page, "signoff-panel"), section(page, "decision")
    assert " → ".join(POLICY.text("en", "signoff_levels", lvl) for lvl in LEVELS) in panel
    assert "Legal counsel" in english_in(panel) and "Global ban" in english_in(decision)
    assert POLICY.text("ru", "signoff_levels", "director") not in panel


async def test_the_queue_in_russian_names_the_next_level_and_the_action_in_russian(
    review: Review, case_id: str
) -> None:
    _, page = await call(review, "GET", "/console?action_type=global-ban", "bob", lang="ru")
    row = re.search(rf'<tr class="[a-z-]*" data-case="{case_id}">(.*?)</tr>', page, re.S)
    assert row is not None
    text = html.unescape(row.group(1))
    assert f"→ {POLICY.text('ru', 'signoff_levels', 'ts-manager')}" in text
    visible = re.sub(r"<[^>]*>", "", text)
    assert "ждёт подписей →" in visible and "awaiting" not in visible
    assert POLICY.text("ru", "action_types", "global-ban") in text
    assert english_in(text) == []


async def test_the_staff_pages_in_russian_name_the_levels_in_russian(review: Review) -> None:
    _, listing = await call(review, "GET", "/console/staff", "adam", lang="ru")
    _, member = await call(review, "GET", "/console/staff/bob", "adam", lang="ru")
    for page in (listing, member):
        for level in LEVELS:
            russian = POLICY.text("ru", "signoff_levels", level)
            english = POLICY.text("en", "signoff_levels", level)
            assert f'value="{level}"' in page and f"> {html.escape(russian)}</label>" in page
            assert f"> {html.escape(english)}</label>" not in page
    bob = re.search(r'<tr data-staff="bob"[^>]*>(.*?)</tr>', listing, re.S)
    assert bob is not None, "bob's row"
    levels = ", ".join(POLICY.text("ru", "signoff_levels", lvl) for lvl in LEVELS[:2][::-1])
    assert levels in html.unescape(bob.group(1))


def step_up_page(language: str, words: PolicyWords | None) -> str:
    return PAGES.environment.get_template("step_up.html").render(
        t=PAGES.translator(language),
        lang=language,
        languages=PAGES.languages,
        path="/console/step-up",
        level="legal-counsel",
        words=words,
        minutes=5,
        go="/go",
        back="/back",
    )


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_step_up_page_names_the_level_in_the_page_language(language: str) -> None:
    """The page a signer meets before the provider asks again (OidcRoutes given the policy's
    words): the level by its title in the page's language, not its id; OidcRoutes built
    without them still shows the id."""
    assert "legal-counsel" in step_up_page(language, None)
    page = step_up_page(language, PolicyWords(POLICY))
    title = POLICY.text(language, "signoff_levels", "legal-counsel")
    assert title in page and "legal-counsel" not in page
    assert (POLICY.text("en", "signoff_levels", "legal-counsel") in page) is (language == "en")


def test_a_ground_reads_as_the_decision_said_it() -> None:
    """The decision's own Russian snapshot, even once the catalogue says something else; a
    decision without one: the catalogue's Russian while it cites the current version, else
    its English snapshot (an older catalogue's clause may have said something else)."""
    words = PolicyWords(POLICY)
    english = {
        f: POLICY.text("en", "clauses", "ucoc-3-1", f) for f in ("source", "section", "text")
    }
    version = POLICY.clauses.version
    said = ClauseText(source="УКП", section="3.1 — как было", text="Слова решения.")
    kept = ClauseGround(
        id="ucoc-3-1", catalogue_version=version, **english, translations={"ru": said}
    )
    assert words.ground("ru", kept).model_dump() == said.model_dump()
    assert words.ground("en", kept).model_dump() == english
    bare = kept.model_copy(update={"translations": {}})
    assert words.ground("ru-RU", bare) == words.clause("ru", "ucoc-3-1")
    older = bare.model_copy(update={"catalogue_version": "2001-01"})
    assert words.ground("ru", older).model_dump() == english


async def test_the_case_page_in_russian_has_no_english_words_of_its_own(
    review: Review, case_id: str
) -> None:
    """The console's own words the Russian page once left in English: the case's state,
    the verdicts, the decision form's parts, the appeal choice, a determination's
    disclosure."""
    _, alice = await call(review, "GET", f"/console/cases/{case_id}", "alice", lang="ru")
    _, carol = await call(review, "GET", f"/console/cases/{case_id}", "carol", lang="ru")
    assert '<td data-verdict="approve">одобрено</td>' in alice
    assert '<dd id="state" data-state="awaiting-signoff">ждёт подписей</dd>' in alice
    form = section(alice, "decision")
    for russian in ("Запрет на взаимодействие", "Снятие прав", "Все мероприятия", "Содержимое"):
        assert russian in form
    assert '<option value="" selected>как в политике</option>' in form
    for english in (
        "interaction ban<",
        "rights removal<",
        "event ban<",
        "content<",
        "all events<",
        "restrictions <",
        "exceptions <",
        ">policy<",
    ):
        assert english not in form
    evidence = section(alice, "evidence")
    assert "<label>Адрес (URL) <input" in evidence and "<label>URL <input" not in evidence
    disclosure = section(carol, "determination")
    assert '<option value="withheld">не раскрывается</option>' in disclosure
    assert "<option>full</option>" not in disclosure


def test_every_console_message_is_given_in_every_language() -> None:
    """A key missing from one language would show the English (translator's fallback)."""
    english = set(PAGES.messages("en"))
    for language in PAGES.languages:
        given = set(PAGES.messages(language))
        assert given == english, (language, sorted(given ^ english))

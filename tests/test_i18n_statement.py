"""The public statement of a Russian-language case, on the real sandbox wiki: English as
ever, then the same in Russian below it, each under its own heading (issue 18 §3)."""

from __future__ import annotations

from casework.mediawiki import MediaWikiClient
from casework.store import DocumentStore
from tests.test_notify_delivery import (  # noqa: F401 (the fixtures)
    LOG_PAGE,
    Inbox,
    approve_and_enforce,
    inbox,
    notifier,
    store,
    wiki,
)


async def test_a_russian_cases_statement_on_the_log_page_is_english_then_russian(
    store: DocumentStore,
    wiki: MediaWikiClient,
    inbox: tuple[Inbox, int],
) -> None:
    _, port = inbox
    await approve_and_enforce(notifier(store, wiki, port), "OA-BILINGUAL1")  # language ru
    page = await wiki.page(LOG_PAGE)
    assert page is not None
    statement = page.text[page.text.index("casework:OA-BILINGUAL1") :]
    assert statement.count("=== English ===") == 1 and statement.count("=== Русский ===") == 1
    english, russian = statement.split("=== Русский ===")
    assert "'''Action:''' Global ban" in english and "Terms of Use" in english
    assert "'''Действие:''' Глобальный бан" in russian and "Условия использования" in russian
    assert "Global ban" not in russian and "Terms of Use" not in russian
    assert "personal attack" in russian  # the same public evidence item in both


async def test_an_english_cases_statement_has_no_language_headings(
    store: DocumentStore,
    wiki: MediaWikiClient,
    inbox: tuple[Inbox, int],
) -> None:
    _, port = inbox
    await approve_and_enforce(notifier(store, wiki, port), "OA-ENGLISH1", language="en")
    page = await wiki.page(LOG_PAGE)
    assert page is not None
    statement = page.text[page.text.index("casework:OA-ENGLISH1") :]
    assert "===" not in statement and "Русский" not in statement
    assert "'''Action:''' Global ban" in statement

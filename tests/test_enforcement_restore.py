"""Reversal and expiry put the wiki back exactly as the office action found it (issue 18 §1).

On the real sandbox farm: the state before the office action, after it, and after its
reversal or expiry, compared field by field. What a community put in place (a week-long
semi-protection, a three-day block) comes back with its own levels, flags and end; what
would already have ended by then does not come back; a notice is marked reversed by an
edit, never deleted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casework.contract import ContentTerms, NoticePlan, PageAction
from casework.mediawiki import BlockInfo, MediaWikiClient, ProtectionLevel
from casework.store.sqlite import SqliteStore
from deploy.sandbox_wiki import ROLE_ACCOUNT
from services.enforcement.adapters.executor import lift
from services.enforcement.domain import Ending, OpKind
from services.enforcement.usecases import Enforcer
from tests.test_enforcement import (  # noqa: F401 (fixtures)
    ALPHA,
    BETA,
    POLICY,
    approval,
    clients,
    enforcer,
    record_of,
    reversal,
    steward,
    store,
)

WEEK = timedelta(days=7)


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def levels(protection: list[ProtectionLevel]) -> set[tuple[str, str, datetime | None]]:
    return {(p.type, p.level, p.expiry) for p in protection}


def block_terms(block: BlockInfo) -> dict[str, Any]:
    """What a block does, without who placed it and when."""
    return {
        "expiry": block.expiry,
        "nocreate": block.nocreate,
        "autoblock": block.autoblock,
        "noemail": block.noemail,
        "allowusertalk": block.allowusertalk,
        "partial": block.partial,
        "pages": block.pages,
        "namespaces": block.namespaces,
    }


@pytest.fixture
async def page(clients: dict[str, MediaWikiClient]) -> AsyncIterator[str]:
    title = f"Disputed page {datetime.now(UTC):%H%M%S%f}"
    await clients[BETA].edit(title, text="Disputed text.", summary="setup")
    yield title


async def _office_protection(enforcer: Enforcer, title: str, **decision: Any) -> Any:
    approved = approval(
        "office-page-protection",
        "Vandal1",
        content=ContentTerms(pages=[PageAction(wiki=BETA, title=title)]),
        wikis=[BETA],
        **decision,
    )
    await enforcer.decision_approved(approved)
    return approved


async def test_a_reversal_puts_back_the_community_protection_with_its_expiry(
    enforcer: Enforcer,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
    page: str,
) -> None:
    until = (datetime.now(UTC) + WEEK).replace(microsecond=0)
    await steward[BETA].protect(
        page,
        protections={"edit": "autoconfirmed"},
        expiries={"edit": stamp(until)},
        reason="warring",
    )
    before = levels((await clients[BETA].page_state(page)).protection)
    assert before == {("edit", "autoconfirmed", until)}

    approved = await _office_protection(enforcer, page)
    during = levels((await clients[BETA].page_state(page)).protection)
    assert during == {("edit", "sysop", None), ("move", "sysop", None)}

    await enforcer.decision_reversed(reversal(approved))
    after = levels((await clients[BETA].page_state(page)).protection)
    assert after == before  # the week-long semi-protection, not an indefinite one


async def test_an_expired_office_protection_puts_back_the_community_protection(
    enforcer: Enforcer,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
    page: str,
) -> None:
    await steward[BETA].protect(page, protections={"move": "autoconfirmed"}, reason="move war")
    before = levels((await clients[BETA].page_state(page)).protection)
    ends = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    await _office_protection(enforcer, page, expires_at=ends)
    during = levels((await clients[BETA].page_state(page)).protection)
    assert during == {("edit", "sysop", ends), ("move", "sysop", ends)}

    assert await enforcer.expire_due(ends + timedelta(seconds=1)) == 1
    after = levels((await clients[BETA].page_state(page)).protection)
    assert after == before


async def test_a_community_protection_that_would_have_ended_is_not_put_back(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
    page: str,
) -> None:
    until = (datetime.now(UTC) + WEEK).replace(microsecond=0)
    await steward[BETA].protect(
        page,
        protections={"edit": "autoconfirmed"},
        expiries={"edit": stamp(until)},
        reason="warring",
    )
    approved = await _office_protection(enforcer, page)
    [op] = (await record_of(store, approved.case_id)).operations
    assert op.prior_protection_expiry == {"edit": stamp(until), "move": "infinity"}
    # Reversed eight days later: the community's week is over.
    await lift(op, approved.case_id, clients[BETA], Ending.REVERSED, now=until + timedelta(days=1))
    assert (await clients[BETA].page_state(page)).protection == []


async def test_a_reversal_puts_back_the_community_block_for_what_remains_of_it(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
) -> None:
    await steward[ALPHA].block(
        "Harasser2",
        reason="edit warring (community)",
        expiry="3 days",
        nocreate=False,
        autoblock=False,
        allow_usertalk=True,
    )
    [community] = await clients[ALPHA].active_blocks("Harasser2")
    approved = approval("global-ban", "Harasser2")
    await enforcer.decision_approved(approved)
    [office] = await clients[ALPHA].active_blocks("Harasser2")
    assert approved.case_id in office.reason and office.infinite and office.nocreate

    await enforcer.decision_reversed(reversal(approved))
    [restored] = await clients[ALPHA].active_blocks("Harasser2")
    assert block_terms(restored) == block_terms(community)  # same flags, same end
    assert restored.by == ROLE_ACCOUNT
    assert approved.case_id in restored.reason and "Steward5" in restored.reason
    assert "edit warring (community)" in restored.reason
    assert await clients[BETA].active_blocks("Harasser2") == []  # never blocked there
    [op] = [
        o
        for o in (await record_of(store, approved.case_id)).operations
        if o.wiki == ALPHA and o.kind is OpKind.BLOCK
    ]
    assert op.prior_block is not None and op.prior_block.by == "Steward5"


async def test_a_community_block_that_would_have_ended_is_not_put_back(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
) -> None:
    await steward[ALPHA].block("Goodfaith3", reason="cool down", expiry="1 day", nocreate=False)
    approved = approval("global-ban", "Goodfaith3")
    await enforcer.decision_approved(approved)
    [op] = [
        o
        for o in (await record_of(store, approved.case_id)).operations
        if o.wiki == ALPHA and o.kind is OpKind.BLOCK
    ]
    later = datetime.now(UTC) + timedelta(days=2)
    await lift(op, approved.case_id, clients[ALPHA], Ending.REVERSED, now=later)
    assert await clients[ALPHA].active_blocks("Goodfaith3") == []


async def test_a_reversed_notice_is_marked_by_an_edit_and_kept(
    enforcer: Enforcer,
    clients: dict[str, MediaWikiClient],
) -> None:
    approved = approval(
        "conduct-warning", "Vandal1", notices=NoticePlan(user_page=True), wikis=[ALPHA]
    )
    await enforcer.decision_approved(approved)
    placed = await clients[ALPHA].page("User:Vandal1")
    assert placed is not None and approved.case_id in placed.text

    await enforcer.decision_reversed(reversal(approved))
    await enforcer.decision_reversed(reversal(approved))  # redelivered: marked once
    marked = await clients[ALPHA].page("User:Vandal1")
    assert marked is not None and marked.text.startswith(placed.text)  # kept, not deleted
    added = marked.text[len(placed.text) :]
    assert approved.case_id in added and "reversed" in added
    assert marked.text.count("reversed") == placed.text.count("reversed") + 1
    assert f"This office action notice ({approved.case_id}) was reversed on" in added
    assert "отменено" not in added


async def test_a_reversed_notice_in_russian_is_marked_in_russian(
    enforcer: Enforcer,
    clients: dict[str, MediaWikiClient],
) -> None:
    """Issue 18 §3: the line under a reversed notice is in the notice's language."""
    approved = approval(
        "conduct-warning",
        "Vandal2",
        notices=NoticePlan(user_page=True),
        wikis=[ALPHA],
        language="ru",
    )
    await enforcer.decision_approved(approved)
    placed = await clients[ALPHA].page("User:Vandal2")
    assert placed is not None and "Офисное действие" in placed.text

    days = {datetime.now(UTC).date()}
    await enforcer.decision_reversed(reversal(approved))
    days.add(datetime.now(UTC).date())  # the reversal may straddle midnight
    marked = await clients[ALPHA].page("User:Vandal2")
    assert marked is not None and marked.text.startswith(placed.text)
    added = marked.text[len(placed.text) :]
    assert any(
        f"Офисное действие, о котором сообщает это уведомление ({approved.case_id}), "
        f"отменено {day:%Y-%m-%d}." in added
        for day in days
    )
    assert "reversed" not in added and "office action" not in added.lower()


async def test_a_notice_in_the_community_language_names_the_action_in_it(
    enforcer: Enforcer,
    clients: dict[str, MediaWikiClient],
) -> None:
    """Issue 18 §3: a Russian-language case's notice carries the policy's Russian title."""
    approved = approval(
        "conduct-warning",
        "Harasser2",
        notices=NoticePlan(user_page=True),
        wikis=[ALPHA],
        language="ru",
    )
    await enforcer.decision_approved(approved)
    page = await clients[ALPHA].page("User:Harasser2")
    assert page is not None and approved.case_id in page.text
    russian = POLICY.text("ru", "action_types", "conduct-warning")
    assert russian != POLICY.action("conduct-warning").title
    assert russian in page.text and POLICY.action("conduct-warning").title not in page.text


async def test_a_russian_cases_log_reasons_are_in_russian_then_english(
    enforcer: Enforcer,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
) -> None:
    """Issue 18 §3: what the wiki's block log says of a Russian-language case (the office
    block, its lifting, the community block put back) is in Russian, then English for the
    rest of the farm; a reversal delivered twice still puts the community block back once."""
    await steward[ALPHA].block("Harasser2", reason="edit warring", expiry="3 days", nocreate=False)
    [community] = await clients[ALPHA].active_blocks("Harasser2")
    approved = approval("global-ban", "Harasser2", language="ru")
    case = approved.case_id
    title = POLICY.text("ru", "action_types", "global-ban")
    await enforcer.decision_approved(approved)
    [office] = await clients[ALPHA].active_blocks("Harasser2")
    assert office.reason.startswith(f"Офисное действие ({title}), дело {case}.")
    assert f"Office action ({POLICY.action('global-ban').title}), case {case}" in office.reason

    await enforcer.decision_reversed(reversal(approved))
    await enforcer.decision_reversed(reversal(approved))  # redelivered
    [restored] = await clients[ALPHA].active_blocks("Harasser2")
    assert restored.reason.startswith(f"Восстановление блокировки #{community.id} (Steward5:")
    assert f"Restoring block #{community.id} by Steward5 (edit warring)" in restored.reason
    log = await clients[ALPHA].log_events(log_type="block", title="User:Harasser2")
    lifted = [e.comment for e in log if e.action == "unblock"]
    assert lifted == [
        f"Офисное действие по делу {case} отменено / Office action of case {case} reversed"
    ]
    assert [e.action for e in log].count("reblock") + [e.action for e in log].count("block") == 3

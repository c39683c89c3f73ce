"""Enforcement against a farm of two real sandbox MediaWikis (no mocks of the wikis).

Events are read from the service's outbox in its real SQLite store: what the relay would
publish. The relay itself is not run here (tests/test_end_to_end.py covers the Kafka path).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from casework.cloudevents import CloudEvent
from casework.config import ConfigError
from casework.contract import (
    ActionEnforced,
    ActionExpired,
    ActionReversed,
    BannedEvent,
    ContentTerms,
    DecisionApproved,
    DecisionReversed,
    EnforcementFailed,
    EventBanTerms,
    EventData,
    InteractionBanTerms,
    NoticePlan,
    PageAction,
    Removal,
    RestorationOrdered,
    RetryOrdered,
    RightsRemovalTerms,
    TamperingDetected,
    from_cloudevent,
    topic_of,
)
from casework.contract.enforcement import ActionRestored
from casework.dispatch import consumed_topics, dispatcher
from casework.mediawiki import MediaWikiClient
from casework.outbox import OutboxRelay
from casework.periodic import every
from casework.store.sqlite import SqliteStore
from deploy.sandbox_wiki import BOT_PASSWORD, ROLE_ACCOUNT, SandboxWiki
from services.enforcement.adapters.notices import NoticeRenderer, notice_marker
from services.enforcement.adapters.store import ENFORCEMENTS
from services.enforcement.adapters.stored import from_document
from services.enforcement.domain import EnforcementRecord, OpKind, OpState, action_reason
from services.enforcement.handlers import HANDLERS
from services.enforcement.policy import rules_of
from services.enforcement.settings import EnforcementSettings
from services.enforcement.usecases import Enforcer, Watcher
from tests.fixtures.keys import authority, reversal_approvals, signed
from tests.support import eventually
from tests.test_enforcement_domain import LOG_PAGE, POLICY
from tests.test_enforcement_domain import approved as make_approved

E = TypeVar("E", bound=EventData)
ALPHA, BETA = "alphawiki", "betawiki"


def client_for(wiki: SandboxWiki, username: str, password: str) -> MediaWikiClient:
    """Fast retries: a wiki that is down fails in well under a second."""
    return MediaWikiClient(
        wiki.api_url,
        username,
        password,
        timeout=10,
        retry_attempts=2,
        retry_initial_wait=0.01,
        retry_max_wait=0.05,
    )


async def _never(topic: str, event: CloudEvent) -> None:
    raise AssertionError("the relay does not run in these tests")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(str(tmp_path / "enforcement.sqlite3"))
    yield opened
    await opened.close()


@pytest.fixture
async def clients(fresh_farm: dict[str, SandboxWiki]) -> AsyncIterator[dict[str, MediaWikiClient]]:
    opened = {wid: client_for(w, *w.credentials()) for wid, w in fresh_farm.items()}
    for c in opened.values():
        await c.__aenter__()
    yield opened
    for c in opened.values():
        await c.close()


@pytest.fixture
async def steward(fresh_farm: dict[str, SandboxWiki]) -> AsyncIterator[dict[str, MediaWikiClient]]:
    """Another administrator (not the role account) on every farm wiki."""
    opened = {
        wid: client_for(w, *w.demo_credentials("Steward5", "tools"))
        for wid, w in fresh_farm.items()
    }
    for c in opened.values():
        await c.__aenter__()
    yield opened
    for c in opened.values():
        await c.close()


def make_enforcer(store: SqliteStore, clients: dict[str, MediaWikiClient], **kw: Any) -> Enforcer:
    relay = OutboxRelay(store, _never)
    notices = NoticeRenderer(LOG_PAGE)
    return Enforcer(
        store,
        relay,
        POLICY,
        clients,
        LOG_PAGE,
        notices,
        rules=rules_of(POLICY),
        retry_seconds=0.1,
        **kw,
    )


async def deliver(enforcer: Enforcer, event: CloudEvent) -> None:
    """The consumer's handle as app.py wires it: admitted by review's authority, dispatched
    by the HANDLERS table."""
    await dispatcher(HANDLERS, enforcer, authority(POLICY).admit)(event)


@pytest.fixture
def enforcer(store: SqliteStore, clients: dict[str, MediaWikiClient]) -> Enforcer:
    return make_enforcer(store, clients)


def new_case() -> str:
    return "OA-" + uuid.uuid4().hex[:12].upper()


def approval(action: str, account: str, **decision: Any) -> DecisionApproved:
    base = make_approved(action, **decision)
    subject = base.decision.subject.model_copy(update={"account": account})
    return base.model_copy(
        update={
            "case_id": new_case(),
            "decision": base.decision.model_copy(update={"subject": subject}),
        }
    )


def reversal(approved: DecisionApproved) -> DecisionReversed:
    return DecisionReversed(
        case_id=approved.case_id,
        decision=approved.decision,
        reason="Appeal upheld.",
        reversed_by="dave",
        reversed_at=datetime.now(UTC),
        grounds="error",
        approvals=reversal_approvals(
            POLICY, len(POLICY.action(approved.decision.action_type).signoff), datetime.now(UTC)
        ),
    )


async def published(store: SqliteStore, kind: type[E], case_id: str | None = None) -> list[E]:
    found = []
    for entry in await store.pending_outbox(10_000):
        data = from_cloudevent(entry.event)
        if isinstance(data, kind) and (
            case_id is None or getattr(data, "case_id", None) == case_id
        ):
            found.append(data)
    return found


async def record_of(store: SqliteStore, case_id: str) -> EnforcementRecord:
    doc = await store.get(ENFORCEMENTS, case_id)
    assert doc is not None
    return from_document(doc)


async def log_entries(
    client: MediaWikiClient, log_type: str, title: str, case_id: str, action: str | None = None
) -> list[Any]:
    return [
        e
        for e in await client.log_events(log_type=log_type, title=title)
        if case_id in e.comment and (action is None or e.action == action)
    ]


async def ours(client: MediaWikiClient, account: str, case_id: str) -> list[Any]:
    return [b for b in await client.active_blocks(account) if case_id in b.reason]


def test_enforcement_consumes_review_s_topic_alone() -> None:
    assert consumed_topics(HANDLERS) == [topic_of("review")]
    assert set(HANDLERS) == {
        DecisionApproved,
        DecisionReversed,
        RestorationOrdered,
        RetryOrdered,
    }


# --- global ban ---------------------------------------------------------------------------


async def test_global_ban_blocks_on_every_wiki_once_and_reversal_undoes_only_it(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
) -> None:
    # Someone else's unrelated block, which a reversal must leave alone.
    await steward[ALPHA].block("Goodfaith3", reason="unrelated vandalism")
    approved = approval("global-ban", "Vandal1")
    event = signed(approved)
    await deliver(enforcer, event)
    await deliver(enforcer, event)  # redelivered

    for wiki_id, client in clients.items():
        [block] = await ours(client, "Vandal1", approved.case_id)
        assert block.infinite and block.nocreate and block.autoblock and not block.partial
        assert block.by == ROLE_ACCOUNT and block.allowusertalk
        entries = await log_entries(client, "block", "User:Vandal1", approved.case_id, "block")
        assert len(entries) == 1, f"one block on {wiki_id}"
    [enforced] = await published(store, ActionEnforced, approved.case_id)
    assert {(o.wiki, o.status, o.kind) for o in enforced.operations} == {
        (ALPHA, "done", "block"),
        (BETA, "done", "block"),
    }
    assert all(o.result_id for o in enforced.operations)

    reversed_ = signed(reversal(approved))
    await deliver(enforcer, reversed_)
    await deliver(enforcer, reversed_)
    for client in clients.values():
        assert await client.active_blocks("Vandal1") == []
        undone = await log_entries(client, "block", "User:Vandal1", approved.case_id, "unblock")
        assert len(undone) == 1
    assert [b.reason for b in await clients[ALPHA].active_blocks("Goodfaith3")] == [
        "unrelated vandalism"
    ]
    [event_reversed] = await published(store, ActionReversed, approved.case_id)
    assert {o.status for o in event_reversed.operations} == {"done"}


async def test_an_existing_block_is_skipped_and_survives_the_reversal(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
) -> None:
    theirs = await steward[ALPHA].block("Harasser2", reason="long-term abuse")
    approved = approval("global-lock", "Harasser2")
    await enforcer.decision_approved(approved)
    record = await record_of(store, approved.case_id)
    states = {op.wiki: (op.state, op.result_id) for op in record.operations}
    assert states[ALPHA] == (OpState.SKIPPED, theirs.id)
    assert states[BETA][0] is OpState.DONE

    await enforcer.decision_reversed(reversal(approved))
    assert [b.id for b in await clients[ALPHA].active_blocks("Harasser2")] == [theirs.id]
    assert await clients[BETA].active_blocks("Harasser2") == []


async def test_a_wiki_down_during_a_global_ban_is_retried_until_it_returns(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    fresh_farm: dict[str, SandboxWiki],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    fresh_farm[BETA].stop()
    approved = approval("global-ban", "Vandal1")
    await enforcer.decision_approved(approved)

    assert len(await ours(clients[ALPHA], "Vandal1", approved.case_id)) == 1
    record = await record_of(store, approved.case_id)
    beta = next(op for op in record.operations if op.wiki == BETA)
    assert beta.state is OpState.PLANNED and beta.error_code == "network"
    [failed] = await published(store, EnforcementFailed, approved.case_id)
    assert (failed.wiki, failed.permanent, failed.attempt) == (BETA, False, 1)
    assert await published(store, ActionEnforced, approved.case_id) == []

    fresh_farm[BETA].start()
    duty = asyncio.create_task(every("reconcile", 0.1, enforcer.reconcile)())
    try:

        async def enforced() -> list[ActionEnforced]:
            return await published(store, ActionEnforced, approved.case_id)

        [event] = await eventually(enforced, what="the ban completed on the returned wiki")
    finally:
        duty.cancel()
    assert {o.wiki: o.status for o in event.operations} == {ALPHA: "done", BETA: "done"}
    assert len(await ours(clients[BETA], "Vandal1", approved.case_id)) == 1
    entries = await log_entries(clients[ALPHA], "block", "User:Vandal1", approved.case_id)
    assert len(entries) == 1, "the wiki that was up acted once"

    # Credentials never reach records, events or logs.
    for entry in await store.pending_outbox(10_000):
        assert BOT_PASSWORD not in str(entry.event.data)
    assert BOT_PASSWORD not in str(await store.find(ENFORCEMENTS))
    assert BOT_PASSWORD not in caplog.text
    assert BOT_PASSWORD.encode() not in (tmp_path / "enforcement.sqlite3").read_bytes()


async def test_a_permission_error_fails_for_good_and_is_reported(
    store: SqliteStore, fresh_farm: dict[str, SandboxWiki]
) -> None:
    """The role account's 'limited' bot password has no blockusers grant."""
    wiki = fresh_farm[ALPHA]
    async with client_for(wiki, *wiki.demo_credentials(ROLE_ACCOUNT, "limited")) as limited:
        enforcer = make_enforcer(store, {ALPHA: limited})
        approved = approval("global-ban", "Vandal1")
        await enforcer.decision_approved(approved)
        await enforcer.reconcile()  # a permanent failure is not retried
    [op] = (await record_of(store, approved.case_id)).operations
    assert (op.state, op.error_code, op.attempts) == (OpState.FAILED, "permissiondenied", 1)
    [failed] = await published(store, EnforcementFailed, approved.case_id)
    assert failed.permanent and failed.error_code == "permissiondenied" and failed.wiki == ALPHA
    assert await published(store, ActionEnforced, approved.case_id) == []


async def test_an_operation_failed_for_good_is_done_when_staff_order_a_retry(
    store: SqliteStore,
    fresh_farm: dict[str, SandboxWiki],
    clients: dict[str, MediaWikiClient],
) -> None:
    """Issue 18: the grant is mended outside the system (the full bot password instead of
    the limited one), staff order the retry, the block is made and the case completes."""
    wiki = fresh_farm[ALPHA]
    async with client_for(wiki, *wiki.demo_credentials(ROLE_ACCOUNT, "limited")) as limited:
        approved = approval("global-ban", "Vandal1")
        await make_enforcer(store, {ALPHA: limited}).decision_approved(approved)
    [op] = (await record_of(store, approved.case_id)).operations
    assert op.state is OpState.FAILED
    order = RetryOrdered(
        case_id=approved.case_id,
        wiki=ALPHA,
        kind="block",
        target="Vandal1",
        ordered_by="bob",
        ordered_at=datetime.now(UTC),
        reason="The role account's bot password was granted blockusers.",
    )
    mended = make_enforcer(store, {ALPHA: clients[ALPHA]})
    await deliver(mended, signed(order))
    await deliver(mended, signed(order))  # redelivered: nothing more
    [op] = (await record_of(store, approved.case_id)).operations
    assert op.state is OpState.DONE
    assert len(await ours(clients[ALPHA], "Vandal1", approved.case_id)) == 1
    [enforced] = await published(store, ActionEnforced, approved.case_id)
    assert [o.status for o in enforced.operations] == ["done"]


# --- interaction ban, rights ----------------------------------------------------------------


async def test_interaction_ban_partial_block_and_its_reversal(
    enforcer: Enforcer, store: SqliteStore, clients: dict[str, MediaWikiClient]
) -> None:
    terms = InteractionBanTerms(counterparties=["Goodfaith3"], pages=["Main Page"], namespaces=[3])
    approved = approval("interaction-ban", "Harasser2", interaction_ban=terms)
    await deliver(enforcer, signed(approved))
    await deliver(enforcer, signed(approved))
    for client in clients.values():
        [block] = await ours(client, "Harasser2", approved.case_id)
        assert block.partial and not block.nocreate
        entries = await log_entries(client, "block", "User:Harasser2", approved.case_id)
        assert len(entries) == 1
        assert entries[0].params["restrictions"] == {
            "pages": [{"page_ns": 0, "page_title": "Main Page"}],
            "namespaces": [3],
        }
    record = await record_of(store, approved.case_id)
    assert "Goodfaith3" in record.notes[0]
    await enforcer.decision_reversed(reversal(approved))
    for client in clients.values():
        assert await client.active_blocks("Harasser2") == []


async def test_rights_removal_checks_removed_and_reversal_restores_only_those(
    enforcer: Enforcer, store: SqliteStore, clients: dict[str, MediaWikiClient]
) -> None:
    terms = RightsRemovalTerms(groups=["sysop", "bureaucrat"], reapply_criteria="A new RfA.")
    approved = approval("removal-of-advanced-rights", "Admin4", rights_removal=terms, wikis=[ALPHA])
    await deliver(enforcer, signed(approved))
    await deliver(enforcer, signed(approved))
    client = clients[ALPHA]
    assert "sysop" not in await client.user_groups("Admin4")
    assert "sysop" in await clients[BETA].user_groups("Admin4"), "only the decision's wiki"
    [op] = (await record_of(store, approved.case_id)).operations
    assert op.removed_groups == ["sysop"]  # Admin4 never was a bureaucrat
    [entry] = await log_entries(client, "rights", "User:Admin4", approved.case_id)
    assert op.result_id == entry.logid

    await enforcer.decision_reversed(reversal(approved))
    groups = await client.user_groups("Admin4")
    assert "sysop" in groups and "bureaucrat" not in groups
    assert len(await published(store, ActionReversed, approved.case_id)) == 1


async def test_rights_removal_of_groups_not_held_is_skipped(
    enforcer: Enforcer, store: SqliteStore
) -> None:
    terms = RightsRemovalTerms(groups=["sysop"], reapply_criteria="n/a")
    approved = approval("removal-of-advanced-rights", "Goodfaith3", rights_removal=terms)
    await enforcer.decision_approved(approved)
    [enforced] = await published(store, ActionEnforced, approved.case_id)
    assert {o.status for o in enforced.operations} == {"skipped"}


async def test_time_limited_actions_end_on_time_across_a_restart(
    store: SqliteStore, clients: dict[str, MediaWikiClient]
) -> None:
    """A block expires by the wiki's own expiry; removed rights come back because enforcement
    lifts them at the end date from its store, here in a new Enforcer (a restarted service)."""
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=6)
    ban = approval("global-ban", "Vandal1", expires_at=until)
    terms = RightsRemovalTerms(groups=["sysop"], reapply_criteria="After the end date.")
    rights = approval(
        "removal-of-advanced-rights", "Admin4", rights_removal=terms, expires_at=until
    )
    first = make_enforcer(store, clients)
    await first.decision_approved(ban)
    await first.decision_approved(rights)
    [block] = await ours(clients[ALPHA], "Vandal1", ban.case_id)
    assert block.expiry == until
    assert "sysop" not in await clients[BETA].user_groups("Admin4")

    restarted = make_enforcer(store, clients)
    duty = asyncio.create_task(every("reconcile", 0.2, restarted.reconcile)())
    try:

        async def expired() -> list[ActionExpired]:
            return await published(store, ActionExpired)

        events = await eventually(lambda: _both(store), timeout=30, what="both actions expired")
    finally:
        duty.cancel()
    assert {e.case_id for e in events} == {ban.case_id, rights.case_id}
    assert datetime.now(UTC) >= until
    for client in clients.values():
        assert await client.active_blocks("Vandal1") == []
        assert "sysop" in await client.user_groups("Admin4")
        readded = await log_entries(client, "rights", "User:Admin4", rights.case_id)
        assert [e.params["newgroups"] for e in readded][-1] == ["sysop"]


async def _both(store: SqliteStore) -> list[ActionExpired] | None:
    events = await published(store, ActionExpired)
    return events if len(events) == 2 else None


async def test_a_notice_marker_written_by_someone_else_does_not_suppress_the_notice(
    enforcer: Enforcer, clients: dict[str, MediaWikiClient], steward: dict[str, MediaWikiClient]
) -> None:
    """Issue 14's log-page bug, on user pages: 'already placed' is the role account's own
    edit for the case, never a marker in the text that anyone can write."""
    approved = approval(
        "conduct-warning", "Harasser2", notices=NoticePlan(user_page=True), wikis=[ALPHA]
    )
    case = approved.case_id
    forged = f"Nothing to see here. {notice_marker(case)}"
    await clients[ALPHA].edit("User:Harasser2", text="Harasser2's page.", summary="setup")
    await steward[ALPHA].edit("User:Harasser2", appendtext=forged, summary="pre-empting")
    await deliver(enforcer, signed(approved))
    await deliver(enforcer, signed(approved))  # redelivered: still one notice
    reason = action_reason(case, POLICY.action("conduct-warning").title, LOG_PAGE)
    mine = await clients[ALPHA].own_edit("User:Harasser2", reason)
    assert mine is not None
    page = await clients[ALPHA].page("User:Harasser2")
    assert page is not None and page.revid == mine
    assert page.text.count(notice_marker(case)) == 2  # the forged one and ours


# --- content --------------------------------------------------------------------------------


async def _page_with_revisions(client: MediaWikiClient, title: str, count: int) -> list[int]:
    revids = []
    for n in range(count):
        result = await client.edit(title, text=f"revision {n} of {title}", summary="setup")
        assert result.newrevid is not None
        revids.append(result.newrevid)
    return revids


async def test_dmca_takedown_deletes_hides_protects_notices_and_reverses(
    enforcer: Enforcer, store: SqliteStore, clients: dict[str, MediaWikiClient]
) -> None:
    alpha = clients[ALPHA]
    await _page_with_revisions(alpha, "Infringing page", 2)
    leaky = await _page_with_revisions(alpha, "Leaky page", 3)
    content = ContentTerms(
        pages=[
            PageAction(
                wiki=ALPHA, title="Infringing page", removal=Removal.DELETE, protection="sysop"
            ),
            PageAction(
                wiki=ALPHA,
                title="Leaky page",
                removal=Removal.REVISION_DELETE,
                revisions=[leaky[1]],
            ),
        ]
    )
    approved = approval(
        "dmca-takedown",
        "Vandal1",
        content=content,
        notices=NoticePlan(user_page=True, concerned_pages=True),
        wikis=[ALPHA],
    )
    case = approved.case_id
    await deliver(enforcer, signed(approved))
    await deliver(enforcer, signed(approved))

    assert len(await log_entries(alpha, "delete", "Infringing page", case, "delete")) == 1
    assert len(await alpha.deleted_revisions("Infringing page")) == 2
    page = await alpha.page("Infringing page")
    assert page is not None and notice_marker(case) in page.text
    assert page.text.count(notice_marker(case)) == 1
    state = await alpha.page_state("Infringing page")
    assert {(p.type, p.level) for p in state.protection} == {("edit", "sysop"), ("move", "sysop")}
    flags = await alpha.revision_flags(leaky)
    assert flags[leaky[1]].texthidden and not flags[leaky[1]].suppressed
    assert not flags[leaky[0]].texthidden and not flags[leaky[2]].texthidden
    user_page = await alpha.page("User:Vandal1")
    assert user_page is not None and case in user_page.text
    assert (await alpha.page("Leaky page")) is not None
    for entry in await alpha.log_events(since=approved.approved_at - timedelta(days=1)):
        if entry.user == ROLE_ACCOUNT and entry.type in ("delete", "protect"):
            assert case in entry.comment
    [enforced] = await published(store, ActionEnforced, case)
    assert [o.kind for o in enforced.operations] == [
        OpKind.DELETE,
        OpKind.NOTICE,
        OpKind.PROTECT,
        OpKind.HIDE_REVISIONS,
        OpKind.NOTICE,  # on the page concerned
        OpKind.NOTICE,  # on the user's page
    ]
    assert all(o.status == "done" for o in enforced.operations)

    await enforcer.decision_reversed(reversal(approved))
    assert await alpha.deleted_revisions("Infringing page") == []
    assert (await alpha.page_state("Infringing page")).protection == []
    assert not (await alpha.revision_flags([leaky[1]]))[leaky[1]].texthidden
    [reversed_] = await published(store, ActionReversed, case)
    # The notices stay, each marked reversed by an edit (issue 18).
    kinds = {"delete", "protect", "hide-revisions", "notice"}
    assert {o.kind for o in reversed_.operations} == kinds
    assert {o.status for o in reversed_.operations} == {"done"}
    user_page = await alpha.page("User:Vandal1")
    assert user_page is not None and f"({case}) was reversed" in user_page.text


async def test_child_protection_deletes_and_suppresses_before_anything_else(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    fresh_farm: dict[str, SandboxWiki],
) -> None:
    beta = clients[BETA]
    await _page_with_revisions(beta, "Harmful page", 2)
    fresh_farm[BETA].stop()
    ban = approval("global-ban", "Vandal1", wikis=[BETA])
    child = approval(
        "child-protection",
        "Harasser2",
        content=ContentTerms(pages=[PageAction(wiki=BETA, title="Harmful page")]),
        wikis=[BETA],
    )
    child = child.model_copy(update={"expedited": True})
    await enforcer.decision_approved(ban)  # first in, but lower priority
    await enforcer.decision_approved(child)
    fresh_farm[BETA].start()

    async def all_due() -> bool:
        now = datetime.now(UTC)
        records = [await record_of(store, c) for c in (ban.case_id, child.case_id)]
        return all(r.runnable(now) for r in records)

    await eventually(all_due, what="both cases due for a retry")
    await enforcer.reconcile()

    assert (await beta.page_state("Harmful page")).exists is False
    archived = await beta.deleted_revisions("Harmful page")
    assert len(archived) == 2 and all(r.suppressed and r.texthidden for r in archived)
    [suppressed] = await log_entries(beta, "suppress", "Harmful page", child.case_id)
    [deleted] = await log_entries(beta, "delete", "Harmful page", child.case_id)
    [blocked] = await log_entries(beta, "block", "User:Vandal1", ban.case_id)
    assert deleted.logid < suppressed.logid < blocked.logid, "child protection went first"


# --- watching -------------------------------------------------------------------------------


async def test_tampering_is_detected_once_and_restored_on_order(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
    fresh_farm: dict[str, SandboxWiki],
) -> None:
    approved = approval("global-ban", "Vandal1")
    await enforcer.decision_approved(approved)
    watcher = Watcher(store, enforcer.relay, clients, fresh_farm[ALPHA].credentials().username)
    assert await watcher.poll() == 0  # only the role account acted so far

    await steward[BETA].unblock("Vandal1", reason="I disagree with this ban")
    await steward[ALPHA].block("Goodfaith3", reason="unrelated")
    await steward[ALPHA].unblock("Goodfaith3", reason="unrelated, lifted")
    assert await watcher.poll() == 1
    assert await watcher.poll() == 0
    [tampering] = await published(store, TamperingDetected, approved.case_id)
    assert (tampering.wiki, tampering.log_type, tampering.log_action) == (BETA, "block", "unblock")
    assert tampering.performer == "Steward5" and tampering.target == "User:Vandal1"
    assert tampering.comment == "I disagree with this ban"

    order = RestorationOrdered(
        case_id=approved.case_id,
        wiki=BETA,
        tampering_id=tampering.tampering_id,
        ordered_by="bob",
        ordered_at=datetime.now(UTC),
    )
    await deliver(enforcer, signed(order))
    await deliver(enforcer, signed(order))
    [block] = await ours(clients[BETA], "Vandal1", approved.case_id)
    assert block.infinite and block.nocreate
    blocks = await log_entries(clients[BETA], "block", "User:Vandal1", approved.case_id, "block")
    assert len(blocks) == 2, "the original block and one restoration"
    [restored] = await published(store, ActionRestored, approved.case_id)
    assert restored.operation.result_id == block.id
    assert await watcher.poll() == 0, "the role account's restoration is not tampering"


async def test_court_order_protects_at_office_level_and_reversal_puts_back_the_old_level(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
    fresh_farm: dict[str, SandboxWiki],
) -> None:
    beta = clients[BETA]
    await _page_with_revisions(beta, "Court page", 1)
    await steward[BETA].protect(
        "Court page", protections={"edit": "autoconfirmed"}, reason="edit warring"
    )
    approved = approval(
        "office-page-protection",
        "Vandal1",
        content=ContentTerms(pages=[PageAction(wiki=BETA, title="Court page")]),
        wikis=[BETA],
    )
    await enforcer.decision_approved(approved)
    state = await beta.page_state("Court page")
    assert {(p.type, p.level) for p in state.protection} == {("edit", "sysop"), ("move", "sysop")}
    [op] = (await record_of(store, approved.case_id)).operations
    assert op.prior_protection == {"edit": "autoconfirmed", "move": "all"}

    # Someone lowers the office protection: detected, not reverted by itself.
    watcher = Watcher(store, enforcer.relay, clients, fresh_farm[BETA].credentials().username)
    await watcher.poll()
    await steward[BETA].protect("Court page", protections={"edit": "all"}, reason="too much")
    assert await watcher.poll() == 1
    [tampering] = await published(store, TamperingDetected, approved.case_id)
    assert (tampering.log_type, tampering.log_action) == ("protect", "unprotect")

    await enforcer.decision_reversed(reversal(approved))
    state = await beta.page_state("Court page")
    assert {(p.type, p.level) for p in state.protection} == {("edit", "autoconfirmed")}


@pytest.mark.parametrize("action", ["event-ban", "conduct-warning"])
async def test_record_only_actions_touch_no_wiki(
    action: str, enforcer: Enforcer, store: SqliteStore, clients: dict[str, MediaWikiClient]
) -> None:
    extra: dict[str, Any] = {}
    if action == "event-ban":
        extra["event_ban"] = EventBanTerms(
            events=[
                BannedEvent(name="Wikimania", starts_on=date(2027, 8, 1), ends_on=date(2027, 8, 5))
            ]
        )
    approved = approval(action, "Vandal1", **extra)
    since = datetime.now(UTC) - timedelta(seconds=2)
    await enforcer.decision_approved(approved)
    [enforced] = await published(store, ActionEnforced, approved.case_id)
    assert enforced.operations == []
    record = await record_of(store, approved.case_id)
    assert record.notes and ("Wikimania" in record.notes[0] or action == "conduct-warning")
    for client in clients.values():
        assert [
            e for e in await client.log_events(since=since) if approved.case_id in e.comment
        ] == []


def test_the_bot_password_comes_from_a_secrets_file(tmp_path: Path) -> None:
    secret = tmp_path / "bot-password"
    secret.write_text("from-the-secrets-file\n")
    settings = EnforcementSettings(WIKI_PASSWORD_FILE=secret)
    assert settings.role_password().get_secret_value() == "from-the-secrets-file"
    assert "from-the-secrets-file" not in repr(settings.role_password())
    secret.write_text("")
    with pytest.raises(ConfigError, match="WIKI_PASSWORD_FILE: the file is empty"):
        EnforcementSettings(WIKI_PASSWORD_FILE=secret).role_password()


async def test_re_added_rights_are_detected_and_removed_again_on_order(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
    fresh_farm: dict[str, SandboxWiki],
) -> None:
    terms = RightsRemovalTerms(groups=["sysop"], reapply_criteria="A new RfA.")
    approved = approval("removal-of-advanced-rights", "Admin4", rights_removal=terms)
    await enforcer.decision_approved(approved)
    watcher = Watcher(store, enforcer.relay, clients, fresh_farm[ALPHA].credentials().username)
    await watcher.poll()
    await steward[ALPHA].user_rights("Admin4", add=["sysop"], reason="welcome back")
    assert await watcher.poll() == 1
    [tampering] = await published(store, TamperingDetected, approved.case_id)
    assert (tampering.wiki, tampering.log_type, tampering.performer) == (
        ALPHA,
        "rights",
        "Steward5",
    )

    order = RestorationOrdered(
        case_id=approved.case_id,
        wiki=ALPHA,
        tampering_id=tampering.tampering_id,
        ordered_by="bob",
        ordered_at=datetime.now(UTC),
    )
    await enforcer.restoration_ordered(order)
    assert "sysop" not in await clients[ALPHA].user_groups("Admin4")
    assert len(await published(store, ActionRestored, approved.case_id)) == 1

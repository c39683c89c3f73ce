"""What enforcement reads from a real sandbox wiki before it acts: on a first attempt only
what acting needs, and after an attempt that died, enough to find its own earlier work.

A block's prior state, its own earlier block and the log mark that tampering is watched
from come from one read; a notice never tried before is appended without looking for an
earlier one, because the operation is stored as tried before the edit is sent.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from casework.contract import NoticePlan
from casework.mediawiki import MediaWikiClient
from casework.store.sqlite import SqliteStore
from services.enforcement.adapters.notices import notice_marker
from services.enforcement.domain import OpKind, OpState
from services.enforcement.usecases import Enforcer, Watcher
from tests.fixtures.keys import signed
from tests.test_enforcement import (
    ALPHA,
    BETA,
    approval,
    clients,  # noqa: F401 (fixture)
    deliver,
    enforcer,  # noqa: F401 (fixture)
    record_of,
    steward,  # noqa: F401 (fixture)
    store,  # noqa: F401 (fixture)
)


class Died(Exception):
    """The process ends here (SIGKILL, power loss): nothing after it is stored."""


def count_reads(monkeypatch: pytest.MonkeyPatch, client: MediaWikiClient) -> Counter[str]:
    """Every read the client sends from now on, by what it asks for."""
    seen: Counter[str] = Counter()
    read = client._read

    async def counted(params: dict[str, Any]) -> dict[str, Any]:
        seen[str(params.get("list") or params.get("prop") or params.get("meta"))] += 1
        return await read(params)

    monkeypatch.setattr(client, "_read", counted)
    return seen


async def test_a_first_attempt_reads_each_block_once_and_never_looks_for_an_earlier_notice(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    approved = approval("global-ban", "Vandal1", notices=NoticePlan(user_page=True))
    before = {w: (await c.log_events(limit=1))[-1].logid for w, c in clients.items()}
    reads = {w: count_reads(monkeypatch, c) for w, c in clients.items()}
    await deliver(enforcer, signed(approved))

    record = await record_of(store, approved.case_id)
    kinds = sorted((op.wiki, op.kind) for op in record.operations)
    wanted = [(w, k) for w in (ALPHA, BETA) for k in (OpKind.BLOCK, OpKind.NOTICE)]
    assert kinds == sorted(wanted)
    assert all(op.state is OpState.DONE and not op.untouched for op in record.operations)
    for wiki, seen in reads.items():
        # One read of the blocks with the log mark; no revisions of the user page, no log
        # read of its own: the block's mark came with the blocks.
        assert seen == Counter({"blocks|logevents": 1}), (wiki, seen)
        [block] = [op for op in record.operations if op.wiki == wiki and op.kind is OpKind.BLOCK]
        assert block.log_mark == before[wiki]
        [entry] = await clients[wiki].log_events(log_type="block", limit=1)
        assert entry.logid > block.log_mark and approved.case_id in entry.comment


async def test_a_block_is_watched_from_the_read_before_it(
    enforcer: Enforcer,
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    steward: dict[str, MediaWikiClient],
) -> None:
    """The mark is read before the block, so the role account's own block entry is after it:
    it is not tampering; someone else's unblock after it is."""
    approved = approval("global-ban", "Harasser2")
    await deliver(enforcer, signed(approved))
    watcher = Watcher(store, enforcer.relay, clients, clients[ALPHA].username)
    assert await watcher.poll() == 0
    await steward[ALPHA].unblock("Harasser2", reason="not convinced")
    assert await watcher.poll() == 1


async def test_a_notice_whose_attempt_died_after_the_edit_is_placed_once(
    store: SqliteStore,
    clients: dict[str, MediaWikiClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The notice reached the wiki, then the process died before recording it. It was stored
    as tried before the edit was sent, so the next attempt looks for it and finds it."""
    from tests.test_enforcement import make_enforcer

    approved = approval(
        "conduct-warning", "Goodfaith3", notices=NoticePlan(user_page=True), wikis=[ALPHA]
    )
    alpha = clients[ALPHA]
    append = alpha.append_once

    async def append_then_die(*args: Any, **kwargs: Any) -> int:
        await append(*args, **kwargs)
        raise Died

    monkeypatch.setattr(alpha, "append_once", append_then_die)
    with pytest.raises(Died):
        await deliver(make_enforcer(store, clients), signed(approved))
    [notice] = (await record_of(store, approved.case_id)).operations
    assert notice.state is OpState.PLANNED and not notice.untouched

    monkeypatch.setattr(alpha, "append_once", append)
    await deliver(make_enforcer(store, clients), signed(approved))
    [notice] = (await record_of(store, approved.case_id)).operations
    assert notice.state is OpState.DONE
    page = await alpha.page("User:Goodfaith3")
    assert page is not None and page.text.count(notice_marker(approved.case_id)) == 1
    assert notice.result_id == page.revid

"""What an office action found on the wiki, recorded before it acts, and put back after.

MediaWiki 1.39 holds one block per account and one protection per page and level, so an
office block or protection *replaces* what a community had put there. Reversal and expiry
must leave the wiki as it would be without the office action: the community's block
(its flags and restrictions, until its own end) and its protection levels (each until its
own expiry) come back, unless they would have ended by then. A reversed notice stays on
the page (its history is the record) and gets a line saying it was reversed, in the
notice's language (adapters/notices.py).

`prepare` reads that state before the operation acts, so the enforcer can store it first:
a crash between the wiki call and the record must not lose what was replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from casework.mediawiki import BlockInfo, BlockState, MediaWikiClient, MediaWikiError, PageState
from services.enforcement.adapters.notices import reversal_line
from services.enforcement.domain import Ending, Operation, OpKind, OpState, PriorBlock
from services.enforcement.domain.log_reasons import Lifting, restored_marker

INFINITY = "infinity"


def wiki_time(when: datetime | None) -> str:
    """An expiry as the Action API reads and writes it."""
    return INFINITY if when is None else when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ended(expiry: str, now: datetime) -> bool:
    if expiry in (INFINITY, "infinite", ""):
        return False
    return datetime.fromisoformat(expiry.replace("Z", "+00:00")) <= now


def in_place(blocks: list[BlockInfo], op: Operation) -> BlockInfo | None:
    """Someone else's block that already does what the planned one would."""
    for b in blocks:
        if op.kind is OpKind.PARTIAL_BLOCK:
            return b  # one block per account: a partial office block never replaces theirs
        if b.partial or not b.nocreate:
            continue
        if op.expiry == "infinite" and not b.infinite:
            continue
        return b
    return None


@dataclass(frozen=True)
class Prepared:
    """An operation ready to act, and the blocks read to prepare it (None: none read), which
    its attempt uses instead of reading them again."""

    op: Operation
    seen: BlockState | None = None


async def prepare(op: Operation, case_id: str, wiki: MediaWikiClient) -> Prepared:
    """``op`` with what it is about to replace recorded (unchanged if nothing, if it was
    recorded before, or if the wiki cannot be read now: the operation itself then fails
    the same way and is tried again later, or records it as it acts)."""
    if op.state is not OpState.PLANNED:
        return Prepared(op)
    try:
        return await _prepared(op, case_id, wiki)
    except MediaWikiError:
        return Prepared(op)


async def _prepared(op: Operation, case_id: str, wiki: MediaWikiClient) -> Prepared:
    if op.kind in (OpKind.BLOCK, OpKind.PARTIAL_BLOCK):
        state = await wiki.block_state(op.target)
        blocks = state.blocks
        if op.prior_block is not None or not blocks:
            return Prepared(op, state)
        if any(case_id in b.reason for b in blocks) or in_place(blocks, op) is not None:
            return Prepared(op, state)
        return Prepared(op.model_copy(update={"prior_block": prior_block(blocks[0])}), state)
    if op.kind is OpKind.PROTECT and not op.prior_protection:
        page = await wiki.page_state(op.target)
        current = {p.type: p.level for p in page.protection}
        if all(current.get(t) == op.protection for t in protection_types(page)):
            return Prepared(op)  # already at the office level: nothing replaced
        return Prepared(op.model_copy(update=found_protection(page)))
    return Prepared(op)


def protection_types(state: PageState) -> list[str]:
    """The levels an office protection sets: edit and move, or create for a missing page."""
    return ["edit", "move"] if state.exists else ["create"]


def found_protection(state: PageState) -> dict[str, dict[str, str]]:
    """The page's protection before the office one, as an Operation records it: each level
    (``all``: none) and its expiry (a wiki timestamp, or infinity)."""
    current = {p.type: p for p in state.protection}
    types = protection_types(state)
    return {
        "prior_protection": {t: current[t].level if t in current else "all" for t in types},
        "prior_protection_expiry": {
            t: wiki_time(current[t].expiry) if t in current else INFINITY for t in types
        },
    }


def prior_block(block: BlockInfo) -> PriorBlock:
    return PriorBlock(
        id=block.id,
        by=block.by,
        reason=block.reason,
        expiry=block.expiry,
        nocreate=block.nocreate,
        autoblock=block.autoblock,
        noemail=block.noemail,
        allowusertalk=block.allowusertalk,
        partial=block.partial,
        pages=list(block.pages),
        namespaces=list(block.namespaces),
    )


async def restore_block(op: Operation, wiki: MediaWikiClient, lifting: Lifting) -> None:
    """Put the replaced block back with its flags until its own end, if it is not over."""
    prior = op.prior_block
    if prior is None or (prior.expiry is not None and prior.expiry <= lifting.now):
        return
    blocks = await wiki.active_blocks(op.target)
    marker = restored_marker(prior.id)
    if any(marker in b.reason and lifting.case_id in b.reason for b in blocks):
        return
    await wiki.block(
        op.target,
        reason=lifting.restoring(prior),
        expiry=wiki_time(prior.expiry) if prior.expiry is not None else "infinite",
        nocreate=prior.nocreate,
        autoblock=prior.autoblock,
        noemail=prior.noemail,
        allow_usertalk=prior.allowusertalk,
        reblock=bool(blocks),
        partial=prior.partial,
        pages=prior.pages,
        namespaces=prior.namespaces,
    )


async def restore_protection(op: Operation, wiki: MediaWikiClient, lifting: Lifting) -> None:
    """The protection levels found before, each until its own expiry; a level whose expiry
    has passed is not put back. A record from before expiries were kept restores the
    levels indefinitely on reversal, as it always did, and nothing on expiry."""
    ending = lifting.ending
    if not op.prior_protection or (ending is Ending.EXPIRED and not op.prior_protection_expiry):
        return
    state = await wiki.page_state(op.target)
    types = protection_types(state)
    levels: dict[str, str] = {}
    expiries: dict[str, str] = {}
    for t in types:
        until = op.prior_protection_expiry.get(t, INFINITY)
        level = op.prior_protection.get(t, "all")
        levels[t] = "all" if _ended(until, lifting.now) else level
        expiries[t] = "infinite" if until == INFINITY else until
    still = {p.type for p in state.protection}
    if ending is Ending.EXPIRED and not still and all(v == "all" for v in levels.values()):
        return  # the wiki ended ours and there is nothing to put back
    await wiki.protect(op.target, protections=levels, expiries=expiries, reason=lifting.reason)


async def mark_notice(op: Operation, wiki: MediaWikiClient, lifting: Lifting) -> None:
    """A reversed notice gets a line saying so in the notice's own language, once (the role
    account's edit with the reversal's summary); an expired one stays as it is, true for
    its time."""
    if lifting.ending is not Ending.REVERSED:
        return
    line = reversal_line(op.text, lifting.case_id, lifting.now.date())
    await wiki.append_unless_made(op.target, line, lifting.reason)

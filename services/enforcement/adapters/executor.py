"""Perform, and lift, one planned operation on a wiki: read its state first, act only if needed.

Every kind recognises its own earlier work by the case reference in the block reason or log
comment, so an operation repeated after a crash (done on the wiki, not yet recorded) is
recorded as done instead of acted twice (a notice stored as untouched until this attempt has no
earlier work to look for). Transient errors leave the operation planned for a
later attempt; permanent ones fail it with the wiki's error code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from casework.mediawiki import BlockState, LogEvent, MediaWikiClient, MediaWikiError
from services.enforcement.adapters import prior_state as prior
from services.enforcement.domain import (
    WATCHED_LOGS,
    Ending,
    Operation,
    OpKind,
    OpState,
)
from services.enforcement.domain.log_reasons import Lifting, LogWording

log = logging.getLogger(__name__)

# CentralAuth answers a failed statecheck with an edit conflict: read the state again later.
_RETRY_CODES = frozenset({"editconflict", "alreadyblocked"})


class _Result(Exception):
    """Internal: how an attempt ended (raised to leave the kind's function early)."""

    def __init__(self, state: OpState, **updates: Any) -> None:
        super().__init__(state)
        self.state = state
        self.updates = updates


def _done(**updates: Any) -> _Result:
    return _Result(OpState.DONE, **updates)


def _skipped(info: str, **updates: Any) -> _Result:
    return _Result(OpState.SKIPPED, error_info=info, **updates)


@dataclass(frozen=True)
class Attempt:
    """How an operation is tried. ``restoring``: put it back even if something similar is in
    place (staff ordered it after someone else changed it). ``seen``: the target's blocks,
    read for this attempt a moment before (prior_state.prepare), so not read again.
    ``untouched``: no earlier attempt can have reached the wiki (Operation.untouched, stored
    as cleared before this one), so there is no earlier work of its own to look for."""

    restoring: bool = False
    seen: BlockState | None = None
    untouched: bool = False


async def perform(
    op: Operation, case_id: str, wiki: MediaWikiClient, attempt: Attempt = Attempt()
) -> Operation:
    """Return the operation with its new state."""
    attempts = op.attempts + 1
    try:
        await _KINDS[op.kind](op, case_id, wiki, attempt)
        raise AssertionError(f"{op.kind} ended without a result")
    except _Result as result:
        fields: dict[str, Any] = {"error_code": "", "error_info": "", "result_id": None}
        if result.state is OpState.DONE:
            fields["done_at"] = datetime.now(UTC)
            if op.kind in WATCHED_LOGS and "log_mark" not in result.updates:
                fields["log_mark"] = await _log_mark(wiki)
        fields |= result.updates
        return op.model_copy(
            update={**fields, "state": result.state, "attempts": attempts, "next_attempt_at": None}
        )
    except MediaWikiError as exc:
        transient = exc.transient or exc.code in _RETRY_CODES
        state = OpState.PLANNED if transient else OpState.FAILED
        log.warning("%s on %s for %s: %s (%s)", op.kind, op.wiki, case_id, exc.code, state)
        return op.model_copy(
            update={
                "state": state,
                "attempts": attempts,
                "error_code": exc.code,
                "error_info": exc.info[:500],
            }
        )


async def lift(
    op: Operation,
    case_id: str,
    wiki: MediaWikiClient,
    ending: Ending,
    *,
    now: datetime | None = None,
    wording: LogWording | None = None,
) -> Operation:
    """Undo what this operation put in place (a reversal) or what the wiki cannot expire by
    itself (an expiry), and put back what it had replaced (adapters/prior_state.py).
    Transient errors leave it for a later attempt. ``wording``: the community's language
    for the wiki's log reasons (English alone if none)."""
    lifting = Lifting(case_id, ending, now or datetime.now(UTC), wording)
    try:
        await _LIFT[op.kind](op, wiki, lifting)
        return op.model_copy(update={"ended": True, "end_attempts": op.end_attempts + 1})
    except MediaWikiError as exc:
        update: dict[str, Any] = {"end_attempts": op.end_attempts + 1}
        if not exc.transient:
            update["end_error"] = f"{exc.code}: {exc.info[:300]}"
        log.warning("lifting %s on %s for %s: %s", op.kind, op.wiki, case_id, exc.code)
        return op.model_copy(update=update)


async def _log_mark(wiki: MediaWikiClient) -> int | None:
    """The wiki's newest log id; None if it cannot be read now (watching falls back to time)."""
    try:
        latest = await wiki.log_events(limit=1)
    except MediaWikiError:
        return None
    return latest[-1].logid if latest else 0


async def _our_log(
    wiki: MediaWikiClient, case_id: str, log_type: str, title: str, action: str | None = None
) -> LogEvent | None:
    entries = await wiki.log_events(log_type=log_type, title=title, limit=50)
    ours = [e for e in entries if case_id in e.comment and (action is None or e.action == action)]
    return ours[-1] if ours else None


# --- blocks ------------------------------------------------------------------------------


async def _block(op: Operation, case_id: str, wiki: MediaWikiClient, attempt: Attempt) -> None:
    flags = op.flags
    assert flags is not None
    seen = attempt.seen
    for _ in range(2):
        # The log mark comes with the read before the block: every later entry is watched.
        state = seen or await wiki.block_state(op.target)
        seen, blocks = None, state.blocks
        mine = next((b for b in blocks if case_id in b.reason), None)
        if mine is not None:
            raise _done(result_id=mine.id, log_mark=state.log_mark)
        existing = None if attempt.restoring else prior.in_place(blocks, op)
        if existing is not None:
            detail = f"already blocked (block {existing.id} by {existing.by})"
            raise _skipped(detail, result_id=existing.id)
        replaced = {}
        if blocks and op.prior_block is None:  # prepare could not read it: record it now
            replaced = {"prior_block": prior.prior_block(blocks[0])}
        try:
            result = await wiki.block(
                op.target,
                reason=op.reason,
                expiry=op.expiry,
                nocreate=flags.nocreate,
                autoblock=flags.autoblock,
                noemail=flags.noemail,
                allow_usertalk=flags.allow_usertalk,
                reblock=bool(blocks),
                partial=op.kind is OpKind.PARTIAL_BLOCK,
                pages=op.pages,
                namespaces=op.namespaces,
            )
        except MediaWikiError as exc:
            if exc.code == "alreadyblocked":
                continue  # blocked between our read and our write: read again
            raise
        raise _done(result_id=result.id, log_mark=state.log_mark, **replaced)
    raise MediaWikiError("alreadyblocked", "block state kept changing", transient=True)


async def _lift_block(op: Operation, wiki: MediaWikiClient, lifting: Lifting) -> None:
    if lifting.ending is Ending.REVERSED:  # on expiry the wiki's own expiry lifts it
        for block in await wiki.active_blocks(op.target):
            if lifting.case_id in block.reason:
                await wiki.unblock(block_id=block.id, reason=lifting.reason)
    await prior.restore_block(op, wiki, lifting)


# --- rights ------------------------------------------------------------------------------


async def _remove_rights(
    op: Operation, case_id: str, wiki: MediaWikiClient, attempt: Attempt
) -> None:
    held = set(await wiki.user_groups(op.target))
    wanted = op.removed_groups if attempt.restoring and op.removed_groups else op.groups
    to_remove = [g for g in wanted if g in held]
    title = f"User:{op.target}"
    if not to_remove:
        ours = await _our_log(wiki, case_id, "rights", title)
        if ours is not None:
            removed = set(ours.params.get("oldgroups", [])) - set(ours.params.get("newgroups", []))
            groups = sorted(set(op.removed_groups) | (removed & set(op.groups)))
            raise _done(result_id=ours.logid, removed_groups=groups)
        raise _skipped(f"{op.target} holds none of {', '.join(op.groups)}")
    result = await wiki.user_rights(op.target, remove=to_remove, reason=op.reason)
    if not result.removed:
        # The wiki answers success with nothing removed when the account may not remove them.
        raise MediaWikiError(
            "nothing-removed",
            f"the wiki removed none of {', '.join(to_remove)}"
            " (the role account may lack the right)",
            transient=False,
        )
    ours = await _our_log(wiki, case_id, "rights", title)
    groups = sorted(set(op.removed_groups) | set(result.removed))
    raise _done(result_id=ours.logid if ours else None, removed_groups=groups)


async def _lift_rights(op: Operation, wiki: MediaWikiClient, lifting: Lifting) -> None:
    held = set(await wiki.user_groups(op.target))
    to_add = [g for g in op.removed_groups if g not in held]
    if to_add:
        await wiki.user_rights(op.target, add=to_add, reason=lifting.reason)


# --- CentralAuth -------------------------------------------------------------------------


async def _global_lock(
    op: Operation, case_id: str, wiki: MediaWikiClient, attempt: Attempt
) -> None:
    account = await wiki.global_account(op.target)
    if account is None:
        raise MediaWikiError("nosuchuser", f"no global account {op.target!r}", transient=False)
    if account.locked:
        raise _done() if attempt.restoring else _skipped("the global account is already locked")
    await wiki.set_global_account_status(
        op.target, locked=True, reason=op.reason, statecheck=account.state_hash()
    )
    raise _done()


async def _lift_lock(op: Operation, wiki: MediaWikiClient, lifting: Lifting) -> None:
    account = await wiki.global_account(op.target)
    if account is not None and account.locked:
        await wiki.set_global_account_status(
            op.target, locked=False, reason=lifting.reason, statecheck=account.state_hash()
        )


# --- content -----------------------------------------------------------------------------


async def _delete(op: Operation, case_id: str, wiki: MediaWikiClient, attempt: Attempt) -> None:
    state = await wiki.page_state(op.target)
    if state.exists:
        raise _done(result_id=await wiki.delete(op.target, reason=op.reason))
    ours = await _our_log(wiki, case_id, "delete", op.target, "delete")
    if ours is not None:
        raise _done(result_id=ours.logid)
    raise _skipped("the page does not exist")


async def _lift_delete(op: Operation, wiki: MediaWikiClient, lifting: Lifting) -> None:
    if await wiki.deleted_revisions(op.target):
        await wiki.undelete(op.target, reason=lifting.reason)


def _hide_fields(op: Operation) -> list[str]:
    return ["content", "comment"] if op.suppress else ["content"]


async def _hide(op: Operation, case_id: str, wiki: MediaWikiClient, attempt: Attempt) -> None:
    if op.archived:
        revisions = await wiki.deleted_revisions(op.target)
        ids = {r.revid: r.timestamp.strftime("%Y%m%d%H%M%S") for r in revisions if r.timestamp}
    else:
        found = await wiki.revision_flags(op.revisions)
        missing = sorted(set(op.revisions) - set(found))
        if missing:
            raise MediaWikiError(
                "nosuchrevid", f"no live revision {missing} on {op.target}", transient=False
            )
        revisions = list(found.values())
        ids = {r.revid: str(r.revid) for r in revisions}
    need = [r for r in revisions if not r.texthidden or (op.suppress and not r.suppressed)]
    log_type = "suppress" if op.suppress else "delete"
    if not need:
        ours = await _our_log(wiki, case_id, log_type, op.target, "revision")
        if ours is not None:
            raise _done(result_id=ours.logid)
        if not revisions:
            raise _skipped("no revisions to hide")
        raise _skipped("the revisions are already hidden")
    targets = sorted({ids[r.revid] for r in need})
    await wiki.revision_delete(
        kind="archive" if op.archived else "revision",
        target=op.target,
        ids=targets,
        hide=_hide_fields(op),
        suppress="yes" if op.suppress else "nochange",
        reason=op.reason,
    )
    ours = await _our_log(wiki, case_id, log_type, op.target, "revision")
    hidden = sorted(set(op.hidden_ids) | set(targets))
    raise _done(result_id=ours.logid if ours else None, hidden_ids=hidden)


async def _lift_hide(op: Operation, wiki: MediaWikiClient, lifting: Lifting) -> None:
    if not op.hidden_ids:
        return
    await wiki.revision_delete(
        kind="archive" if op.archived else "revision",
        target=op.target,
        ids=op.hidden_ids,
        show=_hide_fields(op),
        suppress="no" if op.suppress else "nochange",
        reason=lifting.reason,
    )


async def _protect(op: Operation, case_id: str, wiki: MediaWikiClient, attempt: Attempt) -> None:
    state = await wiki.page_state(op.target)
    types = prior.protection_types(state)
    current = {p.type: p.level for p in state.protection}
    if all(current.get(t) == op.protection for t in types):
        ours = await _our_log(wiki, case_id, "protect", op.target)
        if ours is not None:
            raise _done(result_id=ours.logid, prior_protection=op.prior_protection)
        raise _skipped(f"already protected at {op.protection}")
    seen = prior.found_protection(state)  # unless prepare stored it before
    found = op.prior_protection or seen["prior_protection"]
    until = op.prior_protection_expiry or seen["prior_protection_expiry"]
    await wiki.protect(
        op.target,
        protections=dict.fromkeys(types, op.protection),
        expiry=op.expiry,
        reason=op.reason,
    )
    ours = await _our_log(wiki, case_id, "protect", op.target)
    raise _done(
        result_id=ours.logid if ours else None,
        prior_protection=found,
        prior_protection_expiry=until,
    )


async def _notice(op: Operation, case_id: str, wiki: MediaWikiClient, attempt: Attempt) -> None:
    # Placed already only if the role account made that edit (its summary names the case):
    # a marker in the text proves nothing, anyone can write one to suppress the notice.
    # Not looked for on an untouched operation's first attempt: none can be there, and a
    # later edit with its summary can only be this append's. When restoring, the notice
    # someone removed goes back in: the earlier edit is there, so only an edit after the
    # page's latest revision counts.
    if attempt.restoring:
        raise _done(result_id=await wiki.append_once(op.target, op.text, op.reason))
    if attempt.untouched:
        raise _done(result_id=await wiki.append_once(op.target, op.text, op.reason, after=0))
    raise _done(result_id=await wiki.append_unless_made(op.target, op.text, op.reason))


_KINDS = {
    OpKind.BLOCK: _block,
    OpKind.PARTIAL_BLOCK: _block,
    OpKind.GLOBAL_LOCK: _global_lock,
    OpKind.REMOVE_RIGHTS: _remove_rights,
    OpKind.DELETE: _delete,
    OpKind.HIDE_REVISIONS: _hide,
    OpKind.PROTECT: _protect,
    OpKind.NOTICE: _notice,
}

_LIFT = {
    OpKind.BLOCK: _lift_block,
    OpKind.PARTIAL_BLOCK: _lift_block,
    OpKind.GLOBAL_LOCK: _lift_lock,
    OpKind.REMOVE_RIGHTS: _lift_rights,
    OpKind.DELETE: _lift_delete,
    OpKind.HIDE_REVISIONS: _lift_hide,
    OpKind.PROTECT: prior.restore_protection,
    OpKind.NOTICE: prior.mark_notice,
}

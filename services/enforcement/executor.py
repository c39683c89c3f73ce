"""Perform one planned operation on a wiki, reading its state first so nothing is done twice."""

from __future__ import annotations

import logging
from typing import Protocol

from casework.mediawiki import BlockInfo, BlockResult, MediaWikiError
from services.enforcement.domain import Operation, OpKind, OpState

log = logging.getLogger(__name__)


class BlockingWiki(Protocol):
    """The part of the MediaWiki client enforcement needs (port)."""

    async def active_blocks(self, user: str) -> list[BlockInfo]: ...

    async def block(
        self,
        user: str,
        *,
        reason: str,
        expiry: str = "infinite",
        nocreate: bool = True,
        autoblock: bool = True,
        allow_usertalk: bool = True,
        noemail: bool = False,
        hidename: bool = False,
        reblock: bool = False,
    ) -> BlockResult: ...


def _ours(blocks: list[BlockInfo], case_id: str) -> BlockInfo | None:
    """A block whose reason carries this case's reference: we made it (perhaps before a crash)."""
    return next((b for b in blocks if case_id in b.reason), None)


def _already_in_place(blocks: list[BlockInfo], op: Operation) -> BlockInfo | None:
    """Someone else's block at least as strong as the one planned."""
    for b in blocks:
        if b.partial or not b.nocreate:
            continue
        if op.expiry == "infinite" and not b.infinite:
            continue
        return b
    return None


async def perform(op: Operation, case_id: str, wiki: BlockingWiki) -> Operation:
    """Return the operation with its new state. Transient errors leave it planned."""
    if op.kind is not OpKind.BLOCK:
        raise ValueError(f"unknown operation kind {op.kind}")
    attempts = op.attempts + 1
    try:
        for _ in range(2):
            blocks = await wiki.active_blocks(op.target)
            mine = _ours(blocks, case_id)
            if mine is not None:
                return _update(op, OpState.DONE, attempts, result_id=mine.id)
            existing = _already_in_place(blocks, op)
            if existing is not None:
                detail = f"already blocked (block {existing.id} by {existing.by})"
                return _update(op, OpState.SKIPPED, attempts, result_id=existing.id, info=detail)
            try:
                result = await wiki.block(
                    op.target,
                    reason=op.reason,
                    expiry=op.expiry,
                    nocreate=True,
                    autoblock=True,
                    reblock=bool(blocks),
                )
            except MediaWikiError as exc:
                if exc.code == "alreadyblocked":
                    continue  # blocked between our read and our write: read again
                raise
            return _update(op, OpState.DONE, attempts, result_id=result.id)
        raise MediaWikiError("alreadyblocked", "block state kept changing", transient=True)
    except MediaWikiError as exc:
        state = OpState.PLANNED if exc.transient else OpState.FAILED
        log.warning("%s on %s for %s: %s (%s)", op.kind, op.wiki, case_id, exc.code, state)
        return _update(op, state, attempts, code=exc.code, info=exc.info)


def _update(
    op: Operation,
    state: OpState,
    attempts: int,
    *,
    result_id: int | None = None,
    code: str = "",
    info: str = "",
) -> Operation:
    return op.model_copy(
        update={
            "state": state,
            "attempts": attempts,
            "result_id": result_id,
            "error_code": code,
            "error_info": info,
        }
    )

"""Tampering: a log entry by someone else that changes what a case put in place. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.enforcement.domain.operations import OpKind, OpState, user_title
from services.enforcement.domain.record import EnforcementRecord

# Log types whose entries can change what an operation of this kind put in place.
WATCHED_LOGS: dict[OpKind, frozenset[tuple[str, str]]] = {
    OpKind.BLOCK: frozenset({("block", "unblock"), ("block", "reblock")}),
    OpKind.PARTIAL_BLOCK: frozenset({("block", "unblock"), ("block", "reblock")}),
    OpKind.REMOVE_RIGHTS: frozenset({("rights", "rights"), ("rights", "autopromote")}),
    OpKind.PROTECT: frozenset(
        {("protect", "unprotect"), ("protect", "modify"), ("protect", "protect")}
    ),
    OpKind.DELETE: frozenset({("delete", "restore")}),
    OpKind.HIDE_REVISIONS: frozenset(
        {("delete", "revision"), ("suppress", "revision"), ("delete", "restore")}
    ),
}


def tampered(
    record: EnforcementRecord,
    *,
    wiki: str,
    log_type: str,
    log_action: str,
    title: str,
    params: dict[str, Any],
    log_id: int,
    logged_at: datetime,
) -> int | None:
    """The index of the operation of ``record`` that a log entry by someone else changes.

    Only entries logged after the operation was done count: by log id where the wiki's newest
    log id was read once it was done, else by time.
    """
    if record.ending is not None:
        return None
    for i, op in enumerate(record.operations):
        if op.wiki != wiki or op.state is not OpState.DONE:
            continue
        if op.log_mark is not None:
            if log_id <= op.log_mark:
                continue
        elif op.done_at is None or logged_at < op.done_at:
            continue
        if (log_type, log_action) not in WATCHED_LOGS.get(op.kind, frozenset()):
            continue
        account_target = op.kind in (OpKind.BLOCK, OpKind.PARTIAL_BLOCK, OpKind.REMOVE_RIGHTS)
        if title != (user_title(op.target) if account_target else op.target):
            continue
        if op.kind is OpKind.REMOVE_RIGHTS:
            readded = set(params.get("newgroups", [])) - set(params.get("oldgroups", []))
            if not readded & set(op.removed_groups or op.groups):
                continue
        return i
    return None

"""The enforcement record as the store keeps it: this service's own, versioned document.

The domain works with EnforcementRecord, which holds the contract's Decision (planners read
it; ActionEnforced carries it back out unchanged). What is written is StoredEnforcement,
mapped field by field, so a new version of the contract changes the mapping here and never
the documents already stored. `schema` is the document's version: documents written before
it existed have the same shape and read as version 1. Its JSON Schema is frozen in
`schemas/stored-enforcement-v1.json`; a change that old documents or old readers would not
survive is a `schema: 2` model next to this one, and `from_document` maps version 1 to it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from casework.stored_decision import (
    Stored,
    StoredDecision,
    contract_decision,
    stored_decision,
)
from services.enforcement.domain import (
    Ending,
    EnforcementRecord,
    Operation,
    OpKind,
    OpState,
    PriorBlock,
)

SCHEMA_VERSION = 1


class StoredBlockFlags(Stored):
    nocreate: bool
    autoblock: bool
    noemail: bool
    allow_usertalk: bool


class StoredPriorBlock(Stored):
    id: int
    by: str
    reason: str
    expiry: AwareDatetime | None
    nocreate: bool
    autoblock: bool
    noemail: bool
    allowusertalk: bool
    partial: bool = False
    pages: list[str] = Field(default_factory=list)
    namespaces: list[int] = Field(default_factory=list)


class StoredOperation(Stored):
    wiki: str
    kind: str
    target: str
    reason: str
    expiry: str
    flags: StoredBlockFlags | None
    pages: list[str]
    namespaces: list[int]
    groups: list[str]
    revisions: list[int]
    archived: bool
    suppress: bool
    protection: str
    text: str
    state: str
    result_id: int | None
    error_code: str
    error_info: str
    attempts: int
    next_attempt_at: AwareDatetime | None
    done_at: AwareDatetime | None
    log_mark: int | None
    removed_groups: list[str]
    prior_protection: dict[str, str]
    hidden_ids: list[str]
    ended: bool
    end_error: str
    end_attempts: int
    # Added within version 1 (optional: documents written before read as none recorded).
    prior_protection_expiry: dict[str, str] = Field(default_factory=dict)
    prior_block: StoredPriorBlock | None = None
    untouched: bool = False  # absent: it may have been tried, so its earlier work is looked for


class StoredEnforcement(Stored):
    """One case's enforcement, as stored in the `enforcements` collection (`_id` the case)."""

    version: Literal[1] = Field(default=1, alias="schema")
    case_id: str
    decision: StoredDecision
    operations: list[StoredOperation]
    received_at: AwareDatetime
    priority: int = 0
    notes: list[str] = Field(default_factory=list)
    completed_at: AwareDatetime | None = None
    ending: str | None = None
    ending_reason: str = ""
    ended_at: AwareDatetime | None = None
    restorations: list[str] = Field(default_factory=list)
    # Derived, for the store's queries (store.py ENFORCEMENT_INDEXES); never read back.
    complete: bool = False
    ending_open: bool = False
    expiry_open: bool = False


def to_document(record: EnforcementRecord) -> dict[str, Any]:
    """The document to write for a record: the stored model, its `_id` and its index fields."""
    stored = StoredEnforcement(
        schema=SCHEMA_VERSION,
        case_id=record.case_id,
        decision=stored_decision(record.decision),
        operations=[_stored_operation(op) for op in record.operations],
        received_at=record.received_at,
        priority=record.priority,
        notes=list(record.notes),
        completed_at=record.completed_at,
        ending=record.ending.value if record.ending else None,
        ending_reason=record.ending_reason,
        ended_at=record.ended_at,
        restorations=list(record.restorations),
        complete=record.completed_at is not None,
        ending_open=record.ending is not None and record.ended_at is None,
        expiry_open=record.decision.expires_at is not None and record.ending is None,
    )
    return {"_id": record.case_id, **stored.model_dump(mode="json", by_alias=True)}


def from_document(doc: dict[str, Any]) -> EnforcementRecord:
    """The record a stored document holds (the store's own `_` fields are ignored)."""
    stored = StoredEnforcement.model_validate(
        {k: v for k, v in doc.items() if not k.startswith("_")}
    )
    return EnforcementRecord(
        case_id=stored.case_id,
        decision=contract_decision(stored.decision),
        operations=[_operation(op) for op in stored.operations],
        received_at=stored.received_at,
        priority=stored.priority,
        notes=list(stored.notes),
        completed_at=stored.completed_at,
        ending=Ending(stored.ending) if stored.ending else None,
        ending_reason=stored.ending_reason,
        ended_at=stored.ended_at,
        restorations=list(stored.restorations),
    )


def stored_schema() -> dict[str, Any]:
    """The JSON Schema of the stored document, as frozen under `schemas/`."""
    return StoredEnforcement.model_json_schema(mode="validation", by_alias=True)


def _stored_operation(op: Operation) -> StoredOperation:
    return StoredOperation(
        wiki=op.wiki,
        kind=op.kind.value,
        target=op.target,
        reason=op.reason,
        expiry=op.expiry,
        flags=(
            StoredBlockFlags(
                nocreate=f.nocreate,
                autoblock=f.autoblock,
                noemail=f.noemail,
                allow_usertalk=f.allow_usertalk,
            )
            if (f := op.flags)
            else None
        ),
        pages=list(op.pages),
        namespaces=list(op.namespaces),
        groups=list(op.groups),
        revisions=list(op.revisions),
        archived=op.archived,
        suppress=op.suppress,
        protection=op.protection,
        text=op.text,
        state=op.state.value,
        result_id=op.result_id,
        error_code=op.error_code,
        error_info=op.error_info,
        attempts=op.attempts,
        next_attempt_at=op.next_attempt_at,
        done_at=op.done_at,
        log_mark=op.log_mark,
        removed_groups=list(op.removed_groups),
        prior_protection=dict(op.prior_protection),
        hidden_ids=list(op.hidden_ids),
        ended=op.ended,
        end_error=op.end_error,
        end_attempts=op.end_attempts,
        prior_protection_expiry=dict(op.prior_protection_expiry),
        untouched=op.untouched,
        prior_block=(
            StoredPriorBlock(
                id=b.id,
                by=b.by,
                reason=b.reason,
                expiry=b.expiry,
                nocreate=b.nocreate,
                autoblock=b.autoblock,
                noemail=b.noemail,
                allowusertalk=b.allowusertalk,
                partial=b.partial,
                pages=list(b.pages),
                namespaces=list(b.namespaces),
            )
            if (b := op.prior_block)
            else None
        ),
    )


def _operation(s: StoredOperation) -> Operation:
    return Operation(
        wiki=s.wiki,
        kind=OpKind(s.kind),
        target=s.target,
        reason=s.reason,
        expiry=s.expiry,
        # Validated into the policy's BlockFlags by the domain model.
        flags=s.flags.model_dump() if s.flags else None,
        pages=list(s.pages),
        namespaces=list(s.namespaces),
        groups=list(s.groups),
        revisions=list(s.revisions),
        archived=s.archived,
        suppress=s.suppress,
        protection=s.protection,
        text=s.text,
        state=OpState(s.state),
        result_id=s.result_id,
        error_code=s.error_code,
        error_info=s.error_info,
        attempts=s.attempts,
        next_attempt_at=s.next_attempt_at,
        done_at=s.done_at,
        log_mark=s.log_mark,
        removed_groups=list(s.removed_groups),
        prior_protection=dict(s.prior_protection),
        hidden_ids=list(s.hidden_ids),
        ended=s.ended,
        end_error=s.end_error,
        end_attempts=s.end_attempts,
        prior_protection_expiry=dict(s.prior_protection_expiry),
        untouched=s.untouched,
        prior_block=(
            PriorBlock(
                id=b.id,
                by=b.by,
                reason=b.reason,
                expiry=b.expiry,
                nocreate=b.nocreate,
                autoblock=b.autoblock,
                noemail=b.noemail,
                allowusertalk=b.allowusertalk,
                partial=b.partial,
                pages=list(b.pages),
                namespaces=list(b.namespaces),
            )
            if (b := s.prior_block)
            else None
        ),
    )

"""From an approved decision to wiki operations, and their bookkeeping. Pure: time passed in.

Each action type becomes a list of :class:`Operation` per target wiki (see :func:`plan`); every
operation carries the case reference in its reason, which is also how a crash-interrupted
operation is recognised on the wiki afterwards.

Size: ``plan`` is one match over the action types and the record's bookkeeping
follows its operations; splitting plan from bookkeeping is left to issue 16.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from casework.contract import (
    ActionEnforced,
    ActionExpired,
    ActionReversed,
    AwareDatetime,
    Decision,
    DecisionApproved,
    OperationOutcome,
    OperationStatus,
    Removal,
)
from casework.policy import Enforcement, Policy
from casework.policy.enforcement import BlockFlags


class OpState(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    SKIPPED = "skipped"  # already in place (someone else's action, or nothing to do)
    FAILED = "failed"  # permanent error; not retried
    CANCELLED = "cancelled"  # the decision was reversed before this was done


class OpKind(StrEnum):
    BLOCK = "block"  # sitewide block (action=block)
    PARTIAL_BLOCK = "partial-block"  # action=block partial=1 with page/namespace restrictions
    GLOBAL_LOCK = "global-lock"  # CentralAuth action=setglobalaccountstatus
    REMOVE_RIGHTS = "remove-rights"  # action=userrights remove=…
    DELETE = "delete"  # action=delete
    HIDE_REVISIONS = "hide-revisions"  # action=revisiondelete (suppress=yes for suppression)
    PROTECT = "protect"  # action=protect
    NOTICE = "notice"  # action=edit appendtext=…


class Ending(StrEnum):
    REVERSED = "reversed"
    EXPIRED = "expired"


# What the wiki cannot lift by itself when the decision's end date comes.
LIFTED_BY_US = frozenset({OpKind.REMOVE_RIGHTS, OpKind.GLOBAL_LOCK})
# What ends with the decision's end date at all (content removals do not).
EXPIRING = frozenset({OpKind.BLOCK, OpKind.PARTIAL_BLOCK, OpKind.PROTECT, *LIFTED_BY_US})
# What a case can undo; a notice stays on the page as the record of what happened.
REVERSIBLE = EXPIRING | {OpKind.DELETE, OpKind.HIDE_REVISIONS}


class Operation(BaseModel):
    """One wiki call to make, and what came of it. The case reference in `reason` identifies it."""

    model_config = ConfigDict(frozen=True)

    wiki: str
    kind: OpKind
    target: str = Field(description="An account (blocks, rights, locks) or a page title.")
    reason: str
    expiry: str = "infinite"
    # Parameters by kind.
    flags: BlockFlags | None = None
    pages: list[str] = Field(default_factory=list)
    namespaces: list[int] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    revisions: list[int] = Field(
        default_factory=list, description="HIDE_REVISIONS of live revisions: their ids."
    )
    archived: bool = Field(default=False, description="HIDE_REVISIONS of every deleted one.")
    suppress: bool = False
    protection: str = ""
    text: str = ""
    # Outcome.
    state: OpState = OpState.PLANNED
    result_id: int | None = None
    error_code: str = ""
    error_info: str = ""
    attempts: int = 0
    next_attempt_at: AwareDatetime | None = None
    done_at: AwareDatetime | None = None
    log_mark: int | None = Field(
        default=None, description="The wiki's newest log id once done: later entries are watched."
    )
    # What this case changed, so that a reversal undoes exactly that.
    removed_groups: list[str] = Field(default_factory=list)
    prior_protection: dict[str, str] = Field(default_factory=dict)
    hidden_ids: list[str] = Field(default_factory=list)
    # After a reversal or expiry.
    ended: bool = False
    end_error: str = ""
    end_attempts: int = 0

    @property
    def finished(self) -> bool:
        return self.state in (OpState.DONE, OpState.SKIPPED, OpState.CANCELLED)

    @property
    def settled(self) -> bool:
        return self.state is not OpState.PLANNED

    @property
    def key(self) -> tuple[str, str]:
        """Operations on the same wiki and target run in plan order."""
        return self.wiki, self.target

    def due(self, now: datetime) -> bool:
        return self.state is OpState.PLANNED and (
            self.next_attempt_at is None or self.next_attempt_at <= now
        )

    def outcome(self, detail: str | None = None) -> OperationOutcome:
        status = {
            OpState.DONE: OperationStatus.DONE,
            OpState.SKIPPED: OperationStatus.SKIPPED,
        }.get(self.state, OperationStatus.FAILED)
        return OperationOutcome(
            wiki=self.wiki,
            kind=self.kind,
            target=self.target,
            status=status,
            result_id=self.result_id,
            detail=self.error_info if detail is None else detail,
        )


class Unsupported(Exception):
    """The decision cannot be enforced as it stands (e.g. a wiki outside the farm)."""


class EnforcementRecord(BaseModel):
    """The stored record of enforcing one decision, and of what happened to it afterwards."""

    case_id: str
    decision: Decision
    operations: list[Operation]
    received_at: AwareDatetime
    priority: int = 0
    notes: list[str] = Field(default_factory=list)
    completed_at: AwareDatetime | None = None
    ending: Ending | None = None
    ending_reason: str = ""
    ended_at: AwareDatetime | None = None
    restorations: list[str] = Field(default_factory=list, description="Tampering ids restored.")

    def to_document(self) -> dict[str, Any]:
        doc = self.model_dump(mode="json")
        doc["_id"] = self.case_id
        doc["complete"] = self.completed_at is not None
        doc["ending_open"] = self.ending is not None and self.ended_at is None
        doc["expiry_open"] = self.decision.expires_at is not None and self.ending is None
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> EnforcementRecord:
        fields = {"ending_open", "expiry_open", "complete"}
        return cls.model_validate(
            {k: v for k, v in doc.items() if not k.startswith("_") and k not in fields}
        )

    @property
    def pending(self) -> list[int]:
        return [i for i, op in enumerate(self.operations) if not op.finished]

    def runnable(self, now: datetime) -> list[int]:
        """Due operations whose predecessors on the same wiki and target have finished."""
        waiting: set[tuple[str, str]] = set()
        runnable: list[int] = []
        for i, op in enumerate(self.operations):
            if op.key in waiting:
                continue
            if not op.finished:
                waiting.add(op.key)
                if op.due(now):
                    runnable.append(i)
        return runnable

    def with_operation(self, index: int, op: Operation) -> EnforcementRecord:
        operations = [*self.operations]
        operations[index] = op
        return self.model_copy(update={"operations": operations})

    def to_end(self) -> list[int]:
        """Operations the ending (reversal or expiry) still has to lift, in reverse plan order."""
        kinds = REVERSIBLE if self.ending is Ending.REVERSED else EXPIRING
        return [
            i
            for i in reversed(range(len(self.operations)))
            if (op := self.operations[i]).state is OpState.DONE
            and op.kind in kinds
            and not op.ended
            and not op.end_error
        ]


def action_reason(case_id: str, title: str, public_log_page: str) -> str:
    return f"Office action ({title}), case {case_id}. See [[{public_log_page}]]"


def undo_reason(case_id: str, ending: Ending) -> str:
    what = "reversed" if ending is Ending.REVERSED else "expired"
    return f"Office action of case {case_id} {what}"


RenderNotice = Callable[[str, str], str]
"""(case_id, page the notice goes on) → wikitext of the notice."""


def plan(
    approved: DecisionApproved,
    policy: Policy,
    farm: list[str],
    public_log_page: str,
    now: datetime,
    *,
    notice: RenderNotice | None = None,
    central_wiki: str | None = None,
) -> EnforcementRecord:
    """Every operation the decision needs, per target wiki, in the order they must run."""
    decision = approved.decision
    case_id = approved.case_id
    action = policy.action(decision.action_type)
    rules = policy.enforcement
    wikis = sorted(set(decision.wikis)) or sorted(farm)
    content_wikis = {p.wiki for p in decision.content.pages} if decision.content else set()
    unknown = sorted((set(wikis) | content_wikis) - set(farm))
    if unknown:
        raise Unsupported(f"wikis not in the configured farm: {', '.join(unknown)}")
    reason = action_reason(case_id, action.title, public_log_page)
    expiry = decision.expires_at.isoformat() if decision.expires_at else "infinite"
    account = decision.subject.account
    ops: list[Operation] = []
    notes: list[str] = []

    def op(wiki: str, kind: OpKind, target: str, **fields: Any) -> None:
        ops.append(Operation(wiki=wiki, kind=kind, target=target, reason=reason, **fields))

    match action.enforcement:
        case Enforcement.SITEWIDE_BLOCK:
            for wiki in wikis:
                op(wiki, OpKind.BLOCK, account, expiry=expiry, flags=rules.sitewide_block)
            if central_wiki is not None:
                op(central_wiki, OpKind.GLOBAL_LOCK, account)
        case Enforcement.PARTIAL_BLOCK:
            terms = decision.interaction_ban
            if terms is None:
                raise Unsupported("an interaction ban needs interaction_ban terms")
            notes.append(
                f"interaction ban with {', '.join(terms.counterparties)}"
                f" ({'two-way' if terms.two_way else 'one-way'}) recorded"
            )
            if terms.pages or terms.namespaces:
                for wiki in wikis:
                    op(
                        wiki,
                        OpKind.PARTIAL_BLOCK,
                        account,
                        expiry=expiry,
                        flags=rules.partial_block,
                        pages=list(terms.pages),
                        namespaces=list(terms.namespaces),
                    )
        case Enforcement.RIGHTS_REMOVAL:
            terms_r = decision.rights_removal
            if terms_r is None:
                raise Unsupported("a removal of advanced rights needs rights_removal terms")
            notes.append(f"reapply criteria: {terms_r.reapply_criteria}")
            for wiki in wikis:
                op(wiki, OpKind.REMOVE_RIGHTS, account, groups=list(terms_r.groups))
        case Enforcement.CONTENT_REMOVAL | Enforcement.PAGE_PROTECTION:
            if decision.content is None:
                raise Unsupported(f"{decision.action_type} needs content terms (pages)")
            child = decision.action_type in rules.first
            for page in decision.content.pages:
                removal = page.removal
                if child and removal in (Removal.NONE, Removal.DELETE):
                    removal = Removal.SUPPRESS  # child protection: delete and suppress
                if removal is Removal.DELETE:
                    op(page.wiki, OpKind.DELETE, page.title)
                elif removal is Removal.REVISION_DELETE or (
                    removal is Removal.SUPPRESS and page.revisions
                ):
                    op(
                        page.wiki,
                        OpKind.HIDE_REVISIONS,
                        page.title,
                        revisions=list(page.revisions),
                        suppress=removal is Removal.SUPPRESS,
                    )
                elif removal is Removal.SUPPRESS:
                    op(page.wiki, OpKind.DELETE, page.title)
                    op(page.wiki, OpKind.HIDE_REVISIONS, page.title, archived=True, suppress=True)
                if notice is not None and decision.notices.concerned_pages:
                    # Before protecting: a deleted page's notice recreates it, which would
                    # drop a create protection.
                    op(page.wiki, OpKind.NOTICE, page.title, text=notice(case_id, page.title))
                level = page.protection or (
                    rules.office_protection
                    if action.enforcement is Enforcement.PAGE_PROTECTION
                    else None
                )
                if level:
                    op(page.wiki, OpKind.PROTECT, page.title, protection=level, expiry=expiry)
        case Enforcement.RECORD_ONLY:
            if decision.event_ban is not None and decision.event_ban.events:
                listed = "; ".join(
                    f"{e.name} ({e.starts_on.isoformat()}–{e.ends_on.isoformat()})"
                    for e in decision.event_ban.events
                )
                notes.append(f"event ban recorded: {listed}")
            elif decision.action_type == "event-ban":
                notes.append("event ban recorded: every event the operator runs or funds")
            else:
                notes.append(f"{action.title}: no wiki action; noted on the case")
    if notice is not None:
        if decision.notices.user_page:
            for wiki in wikis:
                user_page = user_title(account)
                op(wiki, OpKind.NOTICE, user_page, text=notice(case_id, user_page))
    priority = 0
    if decision.action_type in rules.first:
        priority = len(rules.first) - rules.first.index(decision.action_type)
    return EnforcementRecord(
        case_id=case_id,
        decision=decision,
        operations=ops,
        received_at=now,
        priority=priority,
        notes=notes,
    )


def backoff(attempts: int, initial: float, maximum: float) -> timedelta:
    """Wait before the next attempt of an operation that failed ``attempts`` times."""
    return timedelta(seconds=min(initial * 2 ** max(attempts - 1, 0), maximum))


def completed(record: EnforcementRecord, now: datetime) -> tuple[EnforcementRecord, ActionEnforced]:
    outcomes = [op.outcome() for op in record.operations if op.state is not OpState.CANCELLED]
    done = record.model_copy(update={"completed_at": now})
    return done, ActionEnforced(
        case_id=record.case_id, decision=record.decision, operations=outcomes, enforced_at=now
    )


def begin_ending(record: EnforcementRecord, ending: Ending, reason: str) -> EnforcementRecord:
    """Mark the record reversed or expired; operations not yet done are cancelled."""
    operations = [
        op.model_copy(update={"state": OpState.CANCELLED}) if op.state is OpState.PLANNED else op
        for op in record.operations
    ]
    return record.model_copy(
        update={"ending": ending, "ending_reason": reason, "operations": operations}
    )


def ended(
    record: EnforcementRecord, now: datetime
) -> tuple[EnforcementRecord, ActionReversed | ActionExpired]:
    """Close the ending: every operation it concerned is lifted (or failed for good)."""
    kinds = REVERSIBLE if record.ending is Ending.REVERSED else EXPIRING
    outcomes = [
        OperationOutcome(
            wiki=op.wiki,
            kind=op.kind,
            target=op.target,
            status=OperationStatus.DONE if op.ended else OperationStatus.FAILED,
            result_id=op.result_id,
            detail=op.end_error,
        )
        for op in record.operations
        if op.state is OpState.DONE and op.kind in kinds
    ]
    done = record.model_copy(update={"ended_at": now})
    event: ActionReversed | ActionExpired
    if record.ending is Ending.REVERSED:
        event = ActionReversed(
            case_id=record.case_id, decision=record.decision, operations=outcomes, reversed_at=now
        )
    else:
        event = ActionExpired(
            case_id=record.case_id, decision=record.decision, operations=outcomes, expired_at=now
        )
    return done, event


def user_title(account: str) -> str:
    return f"User:{account}"


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

"""An operation: one wiki call a decision needs, and what came of it. Pure.

Every operation carries the case reference in its reason, which is also how a
crash-interrupted operation is recognised on the wiki afterwards.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from casework.contract import AwareDatetime, OperationOutcome, OperationStatus
from services.enforcement.policy import BlockFlags


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
# What a case can undo; a notice stays on the page as the record of what happened, and a
# reversal marks it reversed.
REVERSIBLE = EXPIRING | {OpKind.DELETE, OpKind.HIDE_REVISIONS, OpKind.NOTICE}


class PriorBlock(BaseModel):
    """Someone else's block that this case's block replaced (one block per account)."""

    model_config = ConfigDict(frozen=True)

    id: int
    by: str
    reason: str
    expiry: AwareDatetime | None  # None: infinite
    nocreate: bool
    autoblock: bool
    noemail: bool
    allowusertalk: bool
    partial: bool = False
    pages: list[str] = Field(default_factory=list)
    namespaces: list[int] = Field(default_factory=list)


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
    untouched: bool = Field(
        default=False,
        description="Planned and never tried: cleared in the store before the first attempt, "
        "so while it is set nothing of this operation can be on the wiki.",
    )
    next_attempt_at: AwareDatetime | None = None
    done_at: AwareDatetime | None = None
    log_mark: int | None = Field(
        default=None,
        description="The wiki's newest log id, read with the blocks just before a block, or once "
        "another kind was done: later entries by others are watched.",
    )
    # What this case changed, so that a reversal undoes exactly that.
    removed_groups: list[str] = Field(default_factory=list)
    prior_protection: dict[str, str] = Field(default_factory=dict)
    prior_protection_expiry: dict[str, str] = Field(
        default_factory=dict, description="Per level: a wiki timestamp, or infinity."
    )
    prior_block: PriorBlock | None = None
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


def user_title(account: str) -> str:
    return f"User:{account}"

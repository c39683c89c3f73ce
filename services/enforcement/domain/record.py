"""The record of enforcing one decision, and its bookkeeping. Pure: time passed in.

What the store keeps is adapters/stored.py's own model, mapped from this one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from casework.contract import (
    ActionEnforced,
    ActionExpired,
    ActionReversed,
    AwareDatetime,
    Decision,
    OperationOutcome,
    OperationStatus,
)
from services.enforcement.domain.operations import (
    EXPIRING,
    REVERSIBLE,
    Ending,
    Operation,
    OpState,
)


class EnforcementRecord(BaseModel):
    """The record of enforcing one decision, and of what happened to it afterwards."""

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

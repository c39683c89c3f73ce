"""From an approved decision to wiki operations, and their bookkeeping. Pure."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from casework.contract import (
    ActionEnforced,
    AwareDatetime,
    Decision,
    DecisionApproved,
    OperationOutcome,
    OperationStatus,
)
from casework.policy import Enforcement, Policy


class OpState(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


class OpKind(StrEnum):
    BLOCK = "block"


class Operation(BaseModel):
    """One wiki call to make. The case reference in `reason` is its idempotency key."""

    model_config = ConfigDict(frozen=True)

    wiki: str
    kind: OpKind
    target: str
    reason: str
    expiry: str
    state: OpState = OpState.PLANNED
    result_id: int | None = None
    error_code: str = ""
    error_info: str = ""
    attempts: int = 0

    @property
    def finished(self) -> bool:
        return self.state in (OpState.DONE, OpState.SKIPPED)


class Unsupported(Exception):
    """The decision needs an enforcement this build cannot perform yet."""


class EnforcementRecord(BaseModel):
    """The stored record of enforcing one decision."""

    case_id: str
    decision: Decision
    operations: list[Operation]
    received_at: AwareDatetime
    completed_at: AwareDatetime | None = None

    def to_document(self) -> dict[str, Any]:
        doc = self.model_dump(mode="json")
        doc["_id"] = self.case_id
        doc["complete"] = self.completed_at is not None
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> EnforcementRecord:
        return cls.model_validate({k: v for k, v in doc.items() if not k.startswith("_")})

    @property
    def pending(self) -> list[int]:
        return [i for i, op in enumerate(self.operations) if not op.finished]


def block_reason(case_id: str, title: str, public_log_page: str) -> str:
    return f"Office action ({title}), case {case_id}. See [[{public_log_page}]]"


def plan(
    approved: DecisionApproved,
    policy: Policy,
    farm: list[str],
    public_log_page: str,
    now: datetime,
) -> EnforcementRecord:
    decision = approved.decision
    action = policy.action(decision.action_type)
    wikis = sorted(set(decision.wikis)) or farm
    unknown = sorted(set(wikis) - set(farm))
    if unknown:
        raise Unsupported(f"wikis not in the configured farm: {', '.join(unknown)}")
    operations: list[Operation] = []
    if action.enforcement is Enforcement.SITEWIDE_BLOCK:
        expiry = decision.expires_at.isoformat() if decision.expires_at else "infinite"
        reason = block_reason(approved.case_id, action.title, public_log_page)
        operations = [
            Operation(
                wiki=wiki,
                kind=OpKind.BLOCK,
                target=decision.subject.account,
                reason=reason,
                expiry=expiry,
            )
            for wiki in wikis
        ]
    elif action.enforcement is not Enforcement.RECORD_ONLY:
        raise Unsupported(f"enforcement {action.enforcement} is not implemented yet")
    return EnforcementRecord(
        case_id=approved.case_id, decision=decision, operations=operations, received_at=now
    )


def completed(record: EnforcementRecord, now: datetime) -> tuple[EnforcementRecord, ActionEnforced]:
    outcomes = [
        OperationOutcome(
            wiki=op.wiki,
            kind=op.kind,
            target=op.target,
            status=OperationStatus.DONE if op.state is OpState.DONE else OperationStatus.SKIPPED,
            result_id=op.result_id,
            detail=op.error_info,
        )
        for op in record.operations
    ]
    done = record.model_copy(update={"completed_at": now})
    return done, ActionEnforced(
        case_id=record.case_id, decision=record.decision, operations=outcomes, enforced_at=now
    )

"""Enforcement's pure rules: from an approved decision to wiki operations (``planning``),
the operations (``operations``) and the record kept of them (``record``), and what counts
as tampering with them (``tampering``). No I/O; time is passed in."""

from services.enforcement.domain.log_reasons import LogWording, action_reason, undo_reason
from services.enforcement.domain.operations import (
    EXPIRING,
    LIFTED_BY_US,
    REVERSIBLE,
    Ending,
    Operation,
    OpKind,
    OpState,
    PriorBlock,
    user_title,
)
from services.enforcement.domain.planning import PLANNERS, RenderNotice, Unsupported, plan
from services.enforcement.domain.record import (
    EnforcementRecord,
    backoff,
    begin_ending,
    completed,
    ended,
)
from services.enforcement.domain.tampering import WATCHED_LOGS, tampered

__all__ = [
    "EXPIRING",
    "LIFTED_BY_US",
    "PLANNERS",
    "REVERSIBLE",
    "WATCHED_LOGS",
    "Ending",
    "EnforcementRecord",
    "LogWording",
    "OpKind",
    "OpState",
    "Operation",
    "PriorBlock",
    "RenderNotice",
    "Unsupported",
    "action_reason",
    "backoff",
    "begin_ending",
    "completed",
    "ended",
    "plan",
    "tampered",
    "undo_reason",
    "user_title",
]

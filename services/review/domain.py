"""The review domain in one import: the case file and its multi-level sign-off.

Each part lives in its own module; this one re-exports them for callers and tests.
"""

from __future__ import annotations

from services.review.case import FINAL_STATES, Case, CaseState, TimelineEntry
from services.review.decision import (
    AffectedUserInput,
    DecisionForm,
    DeterminationForm,
    draft_decision,
    record_determination,
)
from services.review.opening import case_id_for, open_case
from services.review.reversal import ReversalForm, reverse_decision
from services.review.signoff import SignOffForm, sign_off

__all__ = [
    "FINAL_STATES",
    "AffectedUserInput",
    "Case",
    "CaseState",
    "DecisionForm",
    "DeterminationForm",
    "ReversalForm",
    "SignOffForm",
    "TimelineEntry",
    "case_id_for",
    "draft_decision",
    "open_case",
    "record_determination",
    "reverse_decision",
    "sign_off",
]

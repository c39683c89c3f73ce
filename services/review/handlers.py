"""Review's reactions to events: from other services, and its own reversals.

Its own topic too: an upheld appeal is closed from the DecisionReversed it caused.
Enforcement's and notify's: where each case really is (domain/outcome.py).
"""

from __future__ import annotations

from casework.contract import (
    CorrespondenceReceived,
    DecisionReversed,
    SubmissionReceived,
    TamperingDetected,
)
from casework.dispatch import Handlers
from services.review.domain.outcome import OUTCOME_EVENTS
from services.review.usecases import ReviewCases

HANDLERS: Handlers[ReviewCases] = {
    SubmissionReceived: lambda cases, data, event: cases.submission_received(data),
    CorrespondenceReceived: lambda cases, data, event: cases.correspondence_received(
        data, event.id
    ),
    TamperingDetected: lambda cases, data, event: cases.tampering_detected(data),
    DecisionReversed: lambda cases, data, event: cases.decision_reversed(data),
    **{
        outcome: lambda cases, data, event: cases.outcome_reported(data)
        for outcome in OUTCOME_EVENTS
    },
}

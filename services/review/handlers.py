"""Review's reactions to events: from other services, and its own reversals."""

from __future__ import annotations

from casework.cloudevents import CloudEvent
from casework.contract import (
    CorrespondenceReceived,
    DecisionReversed,
    SubmissionReceived,
    TamperingDetected,
)
from casework.trust import ReviewAuthority
from services.review.outcome import OUTCOME_EVENTS
from services.review.usecases import ReviewCases

# Its own topic too: an upheld appeal is closed from the DecisionReversed it caused.
# Enforcement's and notify's: where each case really is (services/review/outcome.py).
CONSUMES = ("intake", "enforcement", "notify", "review")


class ReviewHandlers:
    def __init__(self, cases: ReviewCases, authority: ReviewAuthority) -> None:
        self.cases = cases
        self.authority = authority

    async def handle(self, event: CloudEvent) -> None:
        # Its own topic is writable by others too: a reversal closes an appeal only when
        # review's signature and the policy's approvals hold (EventRefused: dead-lettered).
        data = self.authority.admit(event)
        if isinstance(data, SubmissionReceived):
            await self.cases.submission_received(data)
        elif isinstance(data, CorrespondenceReceived):
            await self.cases.correspondence_received(data, event.id)
        elif isinstance(data, TamperingDetected):
            await self.cases.tampering_detected(data)
        elif isinstance(data, DecisionReversed):
            await self.cases.decision_reversed(data)
        elif isinstance(data, OUTCOME_EVENTS):
            await self.cases.outcome_reported(data)

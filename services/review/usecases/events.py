"""What events from other services (and review's own reversals) do to cases."""

from __future__ import annotations

from casework.contract import (
    CorrespondenceReceived,
    DecisionReversed,
    SubmissionReceived,
    TamperingDetected,
)
from casework.store import DuplicateDocument
from services.review.adapters.stored import from_document, to_document
from services.review.domain import casefile
from services.review.domain.deadlines import calendar_for
from services.review.domain.opening import case_id_for, open_case
from services.review.domain.outcome import OutcomeEvent
from services.review.domain.progress import progressed
from services.review.usecases.base import CASES, CaseFiles, signed_outbox


class EventReactions(CaseFiles):
    """Cases opened, closed and updated from events; a case review does not hold is passed
    over."""

    async def submission_received(self, submission: SubmissionReceived) -> None:
        original = None
        if submission.refers_to:
            doc = await self.store.get(CASES, submission.refers_to)
            original = from_document(doc) if doc else None
        now = self.clock()
        case, opened = open_case(submission, self.policy, now, original)
        told = [opened, *progressed(None, case, now)]
        try:
            await self.store.insert(
                CASES, to_document(case), outbox=signed_outbox(told, self.signer)
            )
        except DuplicateDocument:
            doc = await self.store.get(CASES, case.id)
            assert doc is not None
            case = from_document(doc)
        self.relay.wake()

    async def decision_reversed(self, event: DecisionReversed) -> None:
        if event.appeal_case_id is not None:
            await self._close_appeal(
                event.appeal_case_id, event.case_id, event.reversed_by, event.reversed_at
            )

    async def correspondence_received(self, message: CorrespondenceReceived, event_id: str) -> None:
        now = self.clock()
        await self._event_change(
            case_id_for(message.submission_id),
            lambda c: (
                casefile.record_correspondence(
                    c, message, event_id, now, calendar_for(c, self.policy)
                ),
                [],
            ),
        )

    async def tampering_detected(self, event: TamperingDetected) -> None:
        await self._event_change(event.case_id, lambda c: (casefile.record_tampering(c, event), []))

    async def outcome_reported(self, event: OutcomeEvent) -> None:
        """Enforcement's or notify's report on a case (whatever its state: an expedited case
        is enforced before its last sign-offs); a case review does not hold is passed over."""
        notify = self.policy.notify
        await self._event_change(
            event.case_id, lambda c: (casefile.record_outcome(c, event, notify), [])
        )

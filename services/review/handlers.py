"""Review's reactions to events from other services."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from casework.cloudevents import CloudEvent
from casework.contract import SubmissionReceived, from_cloudevent, to_cloudevent, topic_of
from casework.outbox import OutboxRelay
from casework.policy import Policy
from casework.store import DocumentStore, DuplicateDocument, OutboxMessage
from services.review.domain import open_case

log = logging.getLogger(__name__)

CASES = "cases"


class ReviewHandlers:
    def __init__(self, store: DocumentStore, relay: OutboxRelay, policy: Policy) -> None:
        self.store = store
        self.relay = relay
        self.policy = policy

    async def handle(self, event: CloudEvent) -> None:
        data = from_cloudevent(event)
        if isinstance(data, SubmissionReceived):
            await self.submission_received(data)

    async def submission_received(self, submission: SubmissionReceived) -> None:
        case, opened = open_case(submission, self.policy, datetime.now(UTC))
        try:
            await self.store.insert(
                CASES,
                case.to_document(),
                outbox=[OutboxMessage(topic_of("review"), to_cloudevent(opened))],
            )
        except DuplicateDocument:
            log.info("case %s already open: submission redelivered", case.id)
            return
        self.relay.wake()

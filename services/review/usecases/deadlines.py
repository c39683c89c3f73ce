"""The deadline duty: scans the stored alert times (indexed) and publishes at-risk and
breached events on time, across restarts. Idempotent: flags on the case say what was sent.
Its pass is `scan`; app.py runs it every `review.deadline_scan_seconds` (casework.periodic)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from casework.contract import to_cloudevent, topic_of
from casework.outbox import OutboxRelay
from casework.store import Document, DocumentStore, OutboxMessage
from casework.updates import NotFound, update_document
from services.review.adapters.stored import from_document, to_document
from services.review.domain.case import sort_key
from services.review.domain.deadlines import check_deadline
from services.review.usecases.base import CASES

PAGE = 200


class DeadlineDuty:
    def __init__(
        self,
        store: DocumentStore,
        relay: OutboxRelay,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.relay = relay
        self.clock = clock
        self.raised = 0  # events raised by this process
        self.scans = 0  # scans completed by this process

    async def scan(self) -> int:
        """Raise every event due by now; return how many were raised."""
        now = self.clock()
        horizon = sort_key(now)
        raised = 0
        after: tuple[str, str] | None = None
        while True:
            docs = await self.store.find(CASES, order_by="alert_at", limit=PAGE, after=after)
            due = [d for d in docs if d["alert_at"] <= horizon]
            for doc in due:
                raised += await self._check(doc["_id"], now)
            if len(due) < len(docs) or len(docs) < PAGE:
                break
            after = (docs[-1]["alert_at"], docs[-1]["_id"])
        if raised:
            self.raised += raised
            self.relay.wake()
        self.scans += 1
        return raised

    async def _check(self, case_id: str, now: datetime) -> int:
        count = 0

        def apply(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            nonlocal count
            case, events = check_deadline(from_document(doc), now)
            count = len(events)
            return to_document(case), [
                OutboxMessage(topic_of("review"), to_cloudevent(e)) for e in events
            ]

        try:
            await update_document(self.store, CASES, case_id, apply)
        except NotFound:
            return 0
        return count

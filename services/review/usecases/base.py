"""What every review use case stands on: the cases collection, access checks, and one
write per change (the case with the events it caused, signed into the outbox)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from casework.contract import EventData, to_cloudevent, topic_of
from casework.errors import Kind, Rejected
from casework.outbox import OutboxRelay
from casework.policy import Policy
from casework.policy.review import StepUp
from casework.signing import Signer
from casework.store import Document, DocumentStore, OutboxMessage
from casework.trust import sign_event
from casework.updates import NotFound, update_document
from services.review.adapters.stored import from_document, to_document
from services.review.auth.policy import authorize
from services.review.domain.case import Case
from services.review.domain.permissions import Action
from services.review.domain.progress import progressed
from services.review.domain.reversal import close_appeal
from services.review.domain.staff import StaffMember

log = logging.getLogger(__name__)
CASES = "cases"
# Indexed: each queue filter together with the queue's orders, and the deadline duty's scan.
INDEXES: tuple[tuple[str, ...], ...] = (
    *((f, "urgency") for f in ("state", "action_type", "assignee", "language")),
    *((f, "opened_at") for f in ("state", "action_type", "assignee", "language")),
    ("urgency",),
    ("opened_at",),
    ("alert_at",),
    ("submission_id", "urgency"),
)

Clock = Callable[[], datetime]
StaffLookup = Callable[[str], StaffMember | None]
Change = Callable[[Case], tuple[Case, list[EventData]]]


def not_found(case_id: str) -> Rejected:
    return Rejected.one(Kind.NOT_FOUND, "not_found", "case_id", "exists", f"no case {case_id!r}")


def signed_outbox(events: list[EventData], signer: Signer) -> list[OutboxMessage]:
    """Review's events as stored for the relay, those that act on wikis or publish signed."""
    return [OutboxMessage(topic_of("review"), sign_event(to_cloudevent(e), signer)) for e in events]


class CaseFiles:
    """The store of cases and the one write each change makes; the use cases build on it."""

    def __init__(
        self,
        store: DocumentStore,
        relay: OutboxRelay,
        policy: Policy,
        staff_by_id: StaffLookup,
        signer: Signer,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.signer = signer
        self.store = store
        self.relay = relay
        self.policy = policy
        self.staff_by_id = staff_by_id
        self.clock = clock
        # The policy's step-up rules, where review enforces them (an identity provider
        # is configured): app.build sets them.
        self.step_up: Mapping[str, StepUp] = {}

    async def ensure_indexes(self) -> None:
        for fields in INDEXES:
            await self.store.ensure_index(CASES, *fields)

    def _check_access(self, staff: StaffMember, action: Action, case: Case) -> None:
        # Hidden, not forbidden: staff named in an abuse report do not learn the case exists.
        bar = case.is_barred(staff)
        if bar is not None and bar.reason == "named-in-report":
            raise not_found(case.id)
        authorize(staff, action, case, self.policy.access)

    async def _load(self, case_id: str, field: str = "case_id") -> Case:
        doc = await self.store.get(CASES, case_id)
        if doc is None:
            raise Rejected.one(Kind.NOT_FOUND, "not_found", field, "exists", f"no case {case_id!r}")
        return from_document(doc)

    async def _change(
        self, staff: StaffMember, action: Action, case_id: str, change: Change
    ) -> Case:
        applied: list[Case] = []  # the last is what was stored (not parsed back from it)

        def apply(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            case = from_document(doc)
            self._check_access(staff, action, case)
            updated, events = change(case)
            applied.append(updated)
            events = [*events, *progressed(case, updated, self.clock())]
            return to_document(updated), signed_outbox(events, self.signer)

        try:
            await update_document(self.store, CASES, case_id, apply)
        except NotFound:
            raise not_found(case_id) from None
        self.relay.wake()
        return applied[-1]

    async def _event_change(self, case_id: str, change: Change) -> None:
        """A change an event causes; a case review does not hold is logged and skipped."""

        def apply(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            case = from_document(doc)
            updated, events = change(case)
            events = [*events, *progressed(case, updated, self.clock())]
            return to_document(updated), signed_outbox(events, self.signer)

        try:
            await update_document(self.store, CASES, case_id, apply)
        except NotFound:
            return
        self.relay.wake()

    async def _close_appeal(
        self, appeal_id: str, original_id: str, actor: str, now: datetime
    ) -> None:
        await self._event_change(
            appeal_id, lambda a: (close_appeal(a, original_id, actor, now), [])
        )

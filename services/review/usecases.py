"""Review's use cases: what staff and events do to cases. The JSON API and the console
both call these; each authorises, applies a pure domain change, and stores the case
with the events it caused (outbox) in one write."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from casework.contract import (
    CorrespondenceReceived,
    DecisionReversed,
    EventData,
    SubmissionReceived,
    TamperingDetected,
    to_cloudevent,
    topic_of,
)
from casework.errors import Kind, Rejected
from casework.faults import crash_point
from casework.outbox import OutboxRelay
from casework.policy import Policy
from casework.signing import Signer
from casework.store import (
    Document,
    DocumentStore,
    DuplicateDocument,
    OutboxMessage,
    StoreError,
)
from casework.trust import sign_event
from casework.updates import NotFound, update_document
from services.review.auth.policy import authorize
from services.review.domain import casefile, inquiries
from services.review.domain.case import Case, CaseState, CaseView
from services.review.domain.deadlines import calendar_for, set_waiting
from services.review.domain.decision import (
    LEGAL_LEVEL,
    DecisionForm,
    DeterminationForm,
    draft_decision,
    record_determination,
)
from services.review.domain.opening import (
    MergeForm,
    StaffCaseForm,
    close_as_duplicate,
    merge_duplicate,
    open_case,
    open_staff_case,
)
from services.review.domain.outcome import OutcomeEvent
from services.review.domain.permissions import Action
from services.review.domain.queue import ORDER, CaseSummary, QueuePage, QueueQuery, cursor_for
from services.review.domain.reversal import (
    ReversalForm,
    close_appeal,
    reverse_decision,
    withdraw_reversal,
)
from services.review.domain.signoff import SignOffForm, sign_off
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
)

Clock = Callable[[], datetime]
StaffLookup = Callable[[str], StaffMember | None]
Change = Callable[[Case], tuple[Case, list[EventData]]]


def not_found(case_id: str) -> Rejected:
    return Rejected.one(Kind.NOT_FOUND, "not_found", "case_id", "exists", f"no case {case_id!r}")


def _outbox(events: list[EventData], signer: Signer) -> list[OutboxMessage]:
    """Review's events as stored for the relay, those that act on wikis or publish signed."""
    return [OutboxMessage(topic_of("review"), sign_event(to_cloudevent(e), signer)) for e in events]


class ReviewCases:
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

    async def ensure_indexes(self) -> None:
        for fields in INDEXES:
            await self.store.ensure_index(CASES, *fields)

    # -- reads -------------------------------------------------------------------------

    async def queue(self, staff: StaffMember, query: QueueQuery) -> QueuePage:
        authorize(staff, Action.READ_QUEUE, None, self.policy.access)
        order_field, descending = ORDER[query.sort]
        docs = await self.store.find(
            CASES,
            query.where(self.policy),
            order_by=order_field,
            descending=descending,
            limit=query.limit + 1,
            after=query.after(),
        )
        more = len(docs) > query.limit
        docs = docs[: query.limit]
        cutoff = query.cutoff()
        rows: list[CaseSummary] = []
        for doc in docs:
            if cutoff is not None and doc["urgency"] >= cutoff:
                if query.sort == "urgency":
                    more = False  # ordered by due time: nothing later can qualify
                    break
                continue
            case = Case.from_document(doc)
            if case.is_barred(staff) is None:
                rows.append(CaseSummary.of(case))
        next_cursor = cursor_for(docs[-1], order_field) if more and docs else None
        return QueuePage(cases=rows, next_cursor=next_cursor)

    async def read(self, staff: StaffMember, case_id: str) -> Case:
        case = await self._load(case_id)
        self._check_access(staff, Action.READ_CASE, case)
        return case

    def view(self, staff: StaffMember, case: Case) -> CaseView:
        """The case as this staff member may see it: legal-privileged text only for counsel."""
        decision = case.decision
        determination = decision.determination if decision else None
        shown = determination is None or LEGAL_LEVEL in staff.levels
        if decision is not None and determination is not None and not shown:
            withheld = f"(withheld by counsel: {determination.grounds})"
            disclosed = determination.model_copy(
                update={"text": determination.disclosed_text() or withheld, "redacted_text": None}
            )
            decision = decision.model_copy(update={"determination": disclosed})
        return CaseView.model_validate(
            {
                **dict(case),
                "decision": decision,
                "next_level": case.next_level(self.policy) if case.decision else None,
                "outstanding_levels": case.outstanding_levels() if case.decision else [],
                "determination_in_full": shown,
                "reversal_approvals_missing": (
                    case.pending_reversal.missing if case.pending_reversal else 0
                ),
            }
        )

    # -- opening -----------------------------------------------------------------------

    async def submission_received(self, submission: SubmissionReceived) -> None:
        original = None
        if submission.refers_to:
            doc = await self.store.get(CASES, submission.refers_to)
            original = Case.from_document(doc) if doc else None
        case, opened = open_case(submission, self.policy, self.clock(), original)
        try:
            await self.store.insert(
                CASES, case.to_document(), outbox=_outbox([opened], self.signer)
            )
        except DuplicateDocument:
            doc = await self.store.get(CASES, case.id)
            assert doc is not None
            case = Case.from_document(doc)
        self.relay.wake()

    async def open_by_staff(self, staff: StaffMember, form: StaffCaseForm) -> Case:
        authorize(staff, Action.OPEN_CASE, None, self.policy.access)
        case_id = "OA-S" + secrets.token_hex(6).upper()
        case, opened = open_staff_case(case_id, form, staff, self.policy, self.clock())
        await self.store.insert(CASES, case.to_document(), outbox=_outbox([opened], self.signer))
        self.relay.wake()
        return case

    # -- working on a case -------------------------------------------------------------

    async def assign(self, staff: StaffMember, case_id: str, form: casefile.AssignForm) -> Case:
        assignee = None
        if form.assignee is not None:
            assignee = self.staff_by_id(form.assignee)
            if assignee is None:
                raise Rejected.one(
                    Kind.INVALID,
                    "validation_failed",
                    "assignee",
                    "known_staff",
                    f"no staff member {form.assignee!r}",
                )
        now = self.clock()
        return await self._change(
            staff,
            Action.ASSIGN_CASE,
            case_id,
            lambda c: (casefile.assign(c, assignee, staff, now), []),
        )

    async def add_note(self, staff: StaffMember, case_id: str, form: casefile.NoteForm) -> Case:
        now = self.clock()
        return await self._change(
            staff, Action.ADD_NOTE, case_id, lambda c: (casefile.add_note(c, form, staff, now), [])
        )

    async def add_evidence(
        self, staff: StaffMember, case_id: str, form: casefile.EvidenceForm
    ) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.ADD_EVIDENCE,
            case_id,
            lambda c: (casefile.add_evidence(c, form, staff, now), []),
        )

    async def link(self, staff: StaffMember, case_id: str, form: casefile.LinkForm) -> Case:
        other = await self._load(form.case_id, field="case_id")
        self._check_access(staff, Action.LINK_CASES, other)
        now = self.clock()
        return await self._change(
            staff, Action.LINK_CASES, case_id, lambda c: (casefile.link(c, form, staff, now), [])
        )

    async def merge(self, staff: StaffMember, case_id: str, form: MergeForm) -> Case:
        """Close a duplicate and fold its evidence into the case it duplicates."""
        original = await self._load(form.into, field="into")
        self._check_access(staff, Action.MERGE_DUPLICATE, original)
        now = self.clock()
        merged = await self._change(
            staff,
            Action.MERGE_DUPLICATE,
            case_id,
            lambda c: (close_as_duplicate(c, form.into, staff.id, now), []),
        )
        await self._change(
            staff,
            Action.MERGE_DUPLICATE,
            form.into,
            lambda c: (merge_duplicate(c, merged, staff.id, now), []),
        )
        return merged

    async def set_waiting(
        self, staff: StaffMember, case_id: str, form: casefile.WaitingForm
    ) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.SET_WAITING,
            case_id,
            lambda c: (
                set_waiting(
                    c,
                    form.waiting,
                    staff.id,
                    now,
                    form.reason,
                    calendar=calendar_for(c, self.policy),
                ),
                [],
            ),
        )

    # -- deciding ----------------------------------------------------------------------

    async def draft_decision(self, staff: StaffMember, case_id: str, form: DecisionForm) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.DRAFT_DECISION,
            case_id,
            lambda c: (draft_decision(c, form, staff, self.policy, now), []),
        )

    async def record_determination(
        self, staff: StaffMember, case_id: str, form: DeterminationForm
    ) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.RECORD_DETERMINATION,
            case_id,
            lambda c: (record_determination(c, form, staff, self.policy, now), []),
        )

    async def sign_off(self, staff: StaffMember, case_id: str, form: SignOffForm) -> Case:
        now = self.clock()
        return await self._change(
            staff, Action.SIGN_OFF, case_id, lambda c: sign_off(c, form, staff, self.policy, now)
        )

    async def reverse(self, staff: StaffMember, case_id: str, form: ReversalForm) -> Case:
        appeal = None
        if form.appeal_case_id is not None:
            appeal = await self._load(form.appeal_case_id, field="appeal_case_id")
            self._check_access(staff, Action.REVERSE_DECISION, appeal)
        now = self.clock()
        # One approval per call: while the policy needs more people the reversal is only
        # recorded as pending. The last approval's one write decides: the original
        # reversed with DecisionReversed in its outbox. The appeal is closed from that
        # event (review consumes its own topic), so a crash or a failed write after this
        # point still closes it; closing it here too only makes the answer current for
        # the caller, and is idempotent.
        reversed_case = await self._change(
            staff,
            Action.REVERSE_DECISION,
            case_id,
            lambda c: reverse_decision(c, form, staff, self.policy, now, appeal),
        )
        if reversed_case.state is not CaseState.REVERSED:
            return reversed_case  # pending: more approvals needed
        crash_point("review.reversal.before-appeal-closed")
        if appeal is not None:
            try:
                await self._close_appeal(appeal.id, case_id, staff.id, now)
            except StoreError:
                log.warning("closing appeal %s left to its DecisionReversed event", appeal.id)
        return reversed_case

    async def withdraw_reversal(self, staff: StaffMember, case_id: str) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.REVERSE_DECISION,
            case_id,
            lambda c: (withdraw_reversal(c, staff, self.policy, now), []),
        )

    async def decision_reversed(self, event: DecisionReversed) -> None:
        if event.appeal_case_id is not None:
            await self._close_appeal(
                event.appeal_case_id, event.case_id, event.reversed_by, event.reversed_at
            )

    async def _close_appeal(
        self, appeal_id: str, original_id: str, actor: str, now: datetime
    ) -> None:
        await self._event_change(
            appeal_id, lambda a: (close_appeal(a, original_id, actor, now), [])
        )

    async def answer_inquiry(
        self, staff: StaffMember, case_id: str, form: inquiries.InquiryForm
    ) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.ANSWER_INQUIRY,
            case_id,
            lambda c: inquiries.answer_inquiry(c, form, staff, now),
        )

    async def order_restoration(
        self, staff: StaffMember, case_id: str, form: casefile.RestorationForm
    ) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.ORDER_RESTORATION,
            case_id,
            lambda c: casefile.order_restoration(c, form, staff, now),
        )

    # -- events from other services ----------------------------------------------------

    async def correspondence_received(self, message: CorrespondenceReceived, event_id: str) -> None:
        from services.review.domain.opening import case_id_for

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

    # -- internals ---------------------------------------------------------------------

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
        return Case.from_document(doc)

    async def _change(
        self, staff: StaffMember, action: Action, case_id: str, change: Change
    ) -> Case:
        def apply(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            case = Case.from_document(doc)
            self._check_access(staff, action, case)
            updated, events = change(case)
            return updated.to_document(), _outbox(events, self.signer)

        try:
            stored = await update_document(self.store, CASES, case_id, apply)
        except NotFound:
            raise not_found(case_id) from None
        self.relay.wake()
        return Case.from_document(stored)

    async def _event_change(self, case_id: str, change: Change) -> None:
        """A change an event causes; a case review does not hold is logged and skipped."""

        def apply(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            updated, events = change(Case.from_document(doc))
            return updated.to_document(), _outbox(events, self.signer)

        try:
            await update_document(self.store, CASES, case_id, apply)
        except NotFound:
            return
        self.relay.wake()

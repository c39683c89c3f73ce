"""What enforcement does with review's events, and its reconciliation duty.

* DecisionApproved → plan, store, perform every operation (see executor), ActionEnforced.
* DecisionReversed → lift exactly what this case put in place, ActionReversed.
* RestorationOrdered → perform again the one operation someone else changed, ActionRestored.
* The reconciliation duty resumes what a crash or a transient error left (child protection
  first), lifts on time what the wiki cannot expire by itself (ActionExpired).

Each case is handled under its own lock; every state change is one store write that carries
its events in the outbox. Each wiki call on a target (an account, a page) is made under
that target's lock: two cases acting on the same account take turns. An instance
reconciles only the cases whose partition its consumer holds (``ownership``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from casework.claims import Claimant, HeldElsewhere, working_on
from casework.contract import (
    DecisionApproved,
    DecisionReversed,
    EnforcementFailed,
    EventData,
    RestorationOrdered,
    RetryOrdered,
    to_cloudevent,
    topic_of,
)
from casework.contract.enforcement import ActionRestored
from casework.faults import crash_point
from casework.kafka.ownership import NotOwned, Ownership
from casework.keyed_locks import KeyedLocks
from casework.mediawiki import MediaWikiClient
from casework.outbox import OutboxRelay
from casework.policy import Policy
from casework.store import Document, DocumentStore, DuplicateDocument, OutboxMessage
from services.enforcement.adapters.executor import Attempt, lift, perform
from services.enforcement.adapters.notices import NoticeRenderer
from services.enforcement.adapters.prior_state import prepare
from services.enforcement.adapters.store import ENFORCEMENTS, FAILURES, TAMPERING, WORKING
from services.enforcement.adapters.stored import from_document, to_document
from services.enforcement.domain import (
    Ending,
    EnforcementRecord,
    Operation,
    OpState,
    Unsupported,
    backoff,
    begin_ending,
    completed,
    ended,
    plan,
)
from services.enforcement.policy import EnforcementRules

log = logging.getLogger(__name__)


def now_utc() -> datetime:
    return datetime.now(UTC)


class Enforcer:
    def __init__(
        self,
        store: DocumentStore,
        relay: OutboxRelay,
        policy: Policy,
        wikis: Mapping[str, MediaWikiClient],
        public_log_page: str,
        notices: NoticeRenderer,
        *,
        rules: EnforcementRules,
        central_wiki: str | None = None,
        retry_seconds: float = 30.0,
        ownership: Ownership | None = None,
        claimant: Claimant | None = None,
    ) -> None:
        self.store = store
        self.claimant = claimant or Claimant.this_process()
        self.ownership = ownership
        self.relay = relay
        self.policy = policy
        self.rules = rules
        self.wikis = wikis
        self.public_log_page = public_log_page
        self.central_wiki = central_wiki
        self.retry_seconds = retry_seconds
        self.notices = notices
        self._cases = KeyedLocks()
        self._targets = KeyedLocks()  # (wiki, target): one wiki call at a time on it

    # --- approval ----------------------------------------------------------------------

    async def decision_approved(self, approved: DecisionApproved) -> None:
        now = now_utc()
        action_type = approved.decision.action_type

        def title(language: str) -> str:  # the notice is in the community's language
            return self.policy.text(language, "action_types", action_type)

        def notice(case_id: str, page: str) -> str:
            return self.notices.render(approved.decision, title, case_id, page)

        try:
            record = plan(
                approved,
                self.policy,
                self.rules,
                sorted(self.wikis),
                self.public_log_page,
                now,
                notice=notice,
                central_wiki=self.central_wiki,
                wording=self.notices.log_wording(approved.decision),
            )
        except Unsupported as exc:
            await self._refuse(approved, str(exc), now)
            return
        try:
            await self.store.insert(ENFORCEMENTS, to_document(record))
        except DuplicateDocument:
            log.info("decision for %s redelivered: resuming its record", approved.case_id)
        await self.enforce(approved.case_id)
        crash_point("enforcement.before-commit")

    async def enforce(self, case_id: str) -> None:
        """Perform every due operation of a case, then announce it. Safe to repeat."""
        async with self._working(case_id):
            doc = await self.store.get(ENFORCEMENTS, case_id)
            if doc is None:
                return
            record = from_document(doc)
            if record.ending is not None:
                return
            tried: set[int] = set()
            while todo := [i for i in record.runnable(now_utc()) if i not in tried]:
                index = todo[0]
                tried.add(index)
                op = record.operations[index]
                async with self._targets.hold((op.wiki, op.target)):
                    # What it replaces, and that it was tried, are stored before it acts: a
                    # crash must lose neither what a reversal puts back nor this attempt.
                    prepared = await prepare(op, case_id, self.wikis[op.wiki])
                    acting = prepared.op.model_copy(update={"untouched": False})
                    if acting != op:
                        record = record.with_operation(index, acting)
                        doc = await self._save(doc, record, [])
                    attempt = Attempt(seen=prepared.seen, untouched=op.untouched)
                    done = await perform(acting, case_id, self.wikis[op.wiki], attempt)
                crash_point("enforcement.after-wiki-call")
                events: list[EventData] = []
                if done.state is OpState.FAILED:
                    events.append(self._failure(case_id, done, permanent=True))
                elif done.state is OpState.PLANNED:
                    wait = backoff(done.attempts, self.retry_seconds, self.rules.retry_max_seconds)
                    done = done.model_copy(update={"next_attempt_at": now_utc() + wait})
                    events.append(self._failure(case_id, done, permanent=False))
                record = record.with_operation(index, done)
                doc = await self._save(doc, record, events)
            if record.pending or record.completed_at is not None:
                return
            finished, enforced = completed(record, now_utc())
            await self._save(doc, finished, [enforced])
            log.info("case %s enforced: %d operation(s)", case_id, len(record.operations))

    # --- reversal and expiry -----------------------------------------------------------

    async def decision_reversed(self, reversed_: DecisionReversed) -> None:
        async with self._cases.hold(reversed_.case_id):
            doc = await self.store.get(ENFORCEMENTS, reversed_.case_id)
            if doc is None:
                log.warning("reversal of %s, which was never enforced here", reversed_.case_id)
                return
            record = from_document(doc)
            if record.ending is None:
                record = begin_ending(record, Ending.REVERSED, reversed_.reason)
                await self._save(doc, record, [])
        await self.end(reversed_.case_id)

    async def end(self, case_id: str) -> None:
        """Lift what a reversal or an expiry concerns, then announce it. Safe to repeat."""
        async with self._working(case_id):
            doc = await self.store.get(ENFORCEMENTS, case_id)
            if doc is None:
                return
            record = from_document(doc)
            if record.ending is None or record.ended_at is not None:
                return
            wording = self.notices.log_wording(record.decision)
            for index in record.to_end():
                op = record.operations[index]
                async with self._targets.hold((op.wiki, op.target)):
                    wiki = self.wikis[op.wiki]
                    lifted = await lift(op, case_id, wiki, record.ending, wording=wording)
                record = record.with_operation(index, lifted)
                doc = await self._save(doc, record, [])
            if record.to_end():
                return  # a transient error: the reconciliation duty tries again
            finished, event = ended(record, now_utc())
            await self._save(doc, finished, [event])
            log.info("case %s %s", case_id, record.ending)

    async def expire_due(self, now: datetime) -> int:
        """Begin the expiry of every enforced record (of an owned case) whose end date has
        come."""
        started = 0
        for doc in await self.store.find(ENFORCEMENTS, {"expiry_open": True}):
            record = from_document(doc)
            expires_at = record.decision.expires_at
            if expires_at is None or expires_at > now or record.completed_at is None:
                continue
            started += await self._owned(record.case_id, self._expire)
        return started

    async def _expire(self, case_id: str) -> None:
        async with self._cases.hold(case_id):
            fresh = await self.store.get(ENFORCEMENTS, case_id)
            if fresh is None:
                return
            record = from_document(fresh)
            if record.ending is not None:
                return
            await self._save(fresh, begin_ending(record, Ending.EXPIRED, "end date"), [])
        await self.end(case_id)

    # --- restoration -------------------------------------------------------------------

    async def restoration_ordered(self, order: RestorationOrdered) -> None:
        tampering = await self.store.get(TAMPERING, order.tampering_id)
        if tampering is None or tampering["case_id"] != order.case_id:
            log.error("restoration of unknown tampering %s ignored", order.tampering_id)
            return
        index = int(tampering["operation"])
        async with self._working(order.case_id):
            doc = await self.store.get(ENFORCEMENTS, order.case_id)
            if doc is None:
                return
            record = from_document(doc)
            if order.tampering_id in record.restorations or record.ending is not None:
                return
            op = record.operations[index]
            async with self._targets.hold((op.wiki, op.target)):
                redone = await perform(
                    op, order.case_id, self.wikis[op.wiki], Attempt(restoring=True)
                )
            if redone.state is OpState.PLANNED:
                raise RuntimeError(
                    f"restoring {op.kind} on {op.wiki}: {redone.error_code}; will retry"
                )
            events: list[EventData] = []
            if redone.state is OpState.FAILED:
                events.append(self._failure(order.case_id, redone, permanent=True))
                redone = op  # what was in place stays recorded as it was
            else:
                events.append(
                    ActionRestored(
                        case_id=order.case_id,
                        tampering_id=order.tampering_id,
                        operation=redone.outcome(),
                        ordered_by=order.ordered_by,
                        restored_at=now_utc(),
                    )
                )
            record = record.with_operation(index, redone).model_copy(
                update={"restorations": [*record.restorations, order.tampering_id]}
            )
            await self._save(doc, record, events)

    async def retry_ordered(self, order: RetryOrdered) -> None:
        """Plan again the one operation that failed for good, then enforce the case: once
        it is done the case completes (ActionEnforced). Redelivered, or for an operation
        not failed (any more), nothing happens."""
        async with self._working(order.case_id):
            doc = await self.store.get(ENFORCEMENTS, order.case_id)
            if doc is None:
                return
            record = from_document(doc)
            key = (order.wiki, order.kind, order.target)
            index = next(
                (
                    i
                    for i, op in enumerate(record.operations)
                    if (op.wiki, op.kind.value, op.target) == key and op.state is OpState.FAILED
                ),
                None,
            )
            if index is None or record.ending is not None:
                return
            again = record.operations[index].model_copy(
                update={
                    "state": OpState.PLANNED,
                    "error_code": "",
                    "error_info": "",
                    "next_attempt_at": None,
                }
            )
            await self._save(doc, record.with_operation(index, again), [])
            log.info(
                "case %s: %s on %s retried by %s",
                order.case_id,
                order.kind,
                order.wiki,
                order.ordered_by,
            )
        await self.enforce(order.case_id)

    # --- reconciliation ----------------------------------------------------------------

    async def reconcile(self) -> int:
        """Resume unfinished enforcements (highest priority first), endings and expiries
        of the cases this instance owns."""
        now = now_utc()
        resumed = 0
        records = [
            from_document(doc) for doc in await self.store.find(ENFORCEMENTS, {"complete": False})
        ]
        records.sort(key=lambda r: (-r.priority, r.received_at))
        for record in records:
            if record.ending is None and record.runnable(now):
                resumed += await self._owned(record.case_id, self.enforce)
        for doc in await self.store.find(ENFORCEMENTS, {"ending_open": True}):
            resumed += await self._owned(str(doc["_id"]), self.end)
        resumed += await self.expire_due(now)
        if resumed:
            log.info("reconciliation resumed %d enforcement(s)", resumed)
        return resumed

    async def _owned(self, case_id: str, work: Callable[[str], Awaitable[None]]) -> int:
        """Do ``work`` on the case if this instance owns it (all cases without ownership)."""
        if self.ownership is None:
            await work(case_id)
            return 1
        try:
            async with self.ownership.working(case_id):
                await work(case_id)
        except (NotOwned, HeldElsewhere):
            return 0
        return 1

    @asynccontextmanager
    async def _working(self, case_id: str) -> AsyncIterator[None]:
        """The case's lock in this process, and its claim among the instances (wiki calls
        on a case are made by one instance at a time, even by one whose partition was
        just handed on; HeldElsewhere while another instance works on it)."""
        async with self._cases.hold(case_id):
            async with working_on(self.store, WORKING, case_id, self.claimant):
                yield

    # --- helpers -----------------------------------------------------------------------

    def _failure(self, case_id: str, op: Operation, *, permanent: bool) -> EnforcementFailed:
        return EnforcementFailed(
            case_id=case_id,
            wiki=op.wiki,
            kind=op.kind,
            target=op.target,
            error_code=op.error_code,
            error_info=op.error_info,
            permanent=permanent,
            failed_at=now_utc(),
            attempt=op.attempts,
        )

    async def _save(
        self, doc: Document, record: EnforcementRecord, events: list[EventData]
    ) -> Document:
        outbox = [OutboxMessage(topic_of("enforcement"), to_cloudevent(e)) for e in events]
        stored = await self.store.replace(
            ENFORCEMENTS, to_document(record), expected_version=doc["_version"], outbox=outbox
        )
        if outbox:
            self.relay.wake()
        return stored

    async def _refuse(self, approved: DecisionApproved, reason: str, now: datetime) -> None:
        failed = EnforcementFailed(
            case_id=approved.case_id,
            wiki="none",
            kind=approved.decision.action_type,
            target=approved.decision.subject.account,
            error_code="unsupported",
            error_info=reason,
            permanent=True,
            failed_at=now,
        )
        try:
            await self.store.insert(
                FAILURES,
                {"_id": approved.case_id, "reason": reason, "at": now.isoformat()},
                outbox=[OutboxMessage(topic_of("enforcement"), to_cloudevent(failed))],
            )
        except DuplicateDocument:
            return
        self.relay.wake()
        log.error("case %s cannot be enforced: %s", approved.case_id, reason)

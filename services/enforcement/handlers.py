"""Enforcement's reactions to approved decisions, and its reconciliation duty."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime

from casework.cloudevents import CloudEvent
from casework.contract import (
    DecisionApproved,
    EnforcementFailed,
    EventData,
    from_cloudevent,
    to_cloudevent,
    topic_of,
)
from casework.faults import crash_point
from casework.outbox import OutboxRelay
from casework.policy import Policy
from casework.store import Document, DocumentStore, DuplicateDocument, OutboxMessage
from services.enforcement.domain import EnforcementRecord, OpState, Unsupported, completed, plan
from services.enforcement.executor import BlockingWiki, perform

log = logging.getLogger(__name__)

ENFORCEMENTS = "enforcements"
FAILURES = "failures"


class Enforcer:
    def __init__(
        self,
        store: DocumentStore,
        relay: OutboxRelay,
        policy: Policy,
        wikis: Mapping[str, BlockingWiki],
        public_log_page: str,
    ) -> None:
        self.store = store
        self.relay = relay
        self.policy = policy
        self.wikis = wikis
        self.public_log_page = public_log_page
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def handle(self, event: CloudEvent) -> None:
        data = from_cloudevent(event)
        if isinstance(data, DecisionApproved):
            await self.decision_approved(data)

    async def decision_approved(self, approved: DecisionApproved) -> None:
        now = datetime.now(UTC)
        try:
            record = plan(approved, self.policy, sorted(self.wikis), self.public_log_page, now)
        except Unsupported as exc:
            await self._refuse(approved, str(exc), now)
            return
        try:
            await self.store.insert(ENFORCEMENTS, record.to_document())
        except DuplicateDocument:
            log.info("decision for %s redelivered: resuming its record", approved.case_id)
        await self.enforce(approved.case_id)
        crash_point("enforcement.before-commit")

    async def enforce(self, case_id: str) -> None:
        """Perform every pending operation of a case, then announce it. Safe to repeat."""
        async with self._locks[case_id]:
            doc = await self.store.get(ENFORCEMENTS, case_id)
            if doc is None:
                return
            record = EnforcementRecord.from_document(doc)
            for index in record.pending:
                op = record.operations[index]
                if op.state is OpState.FAILED:
                    continue
                done = await perform(op, case_id, self.wikis[op.wiki])
                crash_point("enforcement.after-wiki-call")
                events: list[EventData] = []
                if done.state is OpState.FAILED:
                    events.append(
                        EnforcementFailed(
                            case_id=case_id,
                            wiki=done.wiki,
                            kind=done.kind,
                            target=done.target,
                            error_code=done.error_code,
                            error_info=done.error_info,
                            permanent=True,
                            failed_at=datetime.now(UTC),
                        )
                    )
                operations = [*record.operations]
                operations[index] = done
                record = record.model_copy(update={"operations": operations})
                doc = await self._save(doc, record, events)
            if record.pending or record.completed_at is not None:
                return
            finished, enforced = completed(record, datetime.now(UTC))
            await self._save(doc, finished, [enforced])
            log.info("case %s enforced on %d wiki(s)", case_id, len(record.operations))

    async def reconcile(self) -> int:
        """Resume every record that is not complete (after a crash or a transient failure)."""
        resumed = 0
        for doc in await self.store.find(ENFORCEMENTS, {"complete": False}):
            record = EnforcementRecord.from_document(doc)
            if any(op.state is OpState.PLANNED for op in record.operations):
                await self.enforce(record.case_id)
                resumed += 1
        return resumed

    async def reconcile_forever(self, interval: float) -> None:
        while True:
            try:
                resumed = await self.reconcile()
                if resumed:
                    log.info("reconciliation resumed %d enforcement(s)", resumed)
            except Exception:
                log.exception("reconciliation pass failed; next pass in %.0f s", interval)
            await asyncio.sleep(interval)

    async def _save(
        self, doc: Document, record: EnforcementRecord, events: list[EventData]
    ) -> Document:
        outbox = [OutboxMessage(topic_of("enforcement"), to_cloudevent(e)) for e in events]
        stored = await self.store.replace(
            ENFORCEMENTS, record.to_document(), expected_version=doc["_version"], outbox=outbox
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

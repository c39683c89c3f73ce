"""Raises each alert once: its key is the document id in the store, written with the
AlertRaised event in the same write (outbox), so a restart or a rebuild raises nothing twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from casework.contract import to_cloudevent, topic_of
from casework.contract.monitor import AlertRaised
from casework.outbox import OutboxRelay
from casework.store import DocumentStore, DuplicateDocument, OutboxMessage
from services.monitor.adapters.texts import alert_text
from services.monitor.domain.alerts import Alert

log = logging.getLogger(__name__)

COLLECTION = "alerts"


class AlertBook:
    def __init__(
        self,
        store: DocumentStore,
        relay: OutboxRelay,
        *,
        language: str,
        ops_address: str | None,
        case_url: Callable[[str], str],
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._relay = relay
        self._language = language
        self._ops_address = ops_address
        self._case_url = case_url
        self._clock = clock
        self._known: set[str] = set()
        self.raised = 0

    async def load(self) -> None:
        self._known = {doc["_id"] for doc in await self._store.find(COLLECTION)}

    async def raise_once(self, alert: Alert) -> bool:
        """Store and publish the alert unless its key was raised before; True if raised now."""
        if alert.key in self._known:
            return False
        happened, to_do = alert_text(
            self._language, alert.kind, {"case_id": alert.case_id or "-", **alert.params}
        )
        now = self._clock()
        event = AlertRaised(
            alert_key=alert.key,
            kind=alert.kind,
            case_id=alert.case_id,
            what_happened=happened,
            what_to_do=to_do,
            case_url=self._case_url(alert.case_id) if alert.case_id else None,
            ops_address=self._ops_address,
            source_event_id=alert.source_event_id,
            raised_at=now,
        )
        doc = {"_id": alert.key, "kind": str(alert.kind), "raised_at": now.isoformat()}
        try:
            await self._store.insert(
                COLLECTION, doc, outbox=[OutboxMessage(topic_of("monitor"), to_cloudevent(event))]
            )
        except DuplicateDocument:
            self._known.add(alert.key)
            return False
        self._known.add(alert.key)
        self.raised += 1
        self._relay.wake()
        log.info("alert raised key=%s", alert.key)
        return True

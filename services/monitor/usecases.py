"""What the monitor does: feeds every record it reads into the views (the fold of its
table, or a dead letter parked) and raises the alerts they call for, by record and by clock."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from casework.cloudevents import MalformedEvent, from_kafka
from casework.contract import from_cloudevent
from services.monitor.adapters.alert_book import AlertBook
from services.monitor.domain.alerts import (
    StallRules,
    alert_for_letter,
    alerts_for_event,
    clock_alerts,
    stall_alerts,
)
from services.monitor.domain.cases import ParkedLetter
from services.monitor.domain.views import Views

log = logging.getLogger(__name__)


def parked_letter(
    topic: str, partition: int, offset: int, key: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> ParkedLetter:
    found = {name: raw.decode("utf-8", "replace") for name, raw in headers}
    try:
        at = datetime.fromisoformat(found.get("dlq_time", ""))
    except ValueError:
        at = datetime.now(UTC)
    return ParkedLetter(
        dead_letter_topic=topic,
        partition=partition,
        offset=offset,
        source_topic=found.get("dlq_source_topic", "?"),
        event_id=found.get("ce_id"),
        event_type=found.get("ce_type"),
        case_id=found.get("ce_subject") or (key.decode("utf-8", "replace") if key else None),
        error=found.get("dlq_error", ""),
        error_type=found.get("dlq_error_type", ""),
        at=at,
    )


class Tracker:
    def __init__(
        self,
        views: Views,
        book: AlertBook,
        *,
        at_risk_window: timedelta,
        quiet_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        stalls: StallRules | None = None,
    ) -> None:
        self.views = views
        self._stalls = stalls  # None: no alerts on stuck cases
        self._book = book
        self._window = at_risk_window
        self._quiet = quiet_seconds
        self._clock = clock
        self._last_record = 0.0
        self.unreadable = 0
        self._changed = asyncio.Event()

    async def on_record(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        self._last_record = time.monotonic()
        self.views.note_offset(topic, partition, offset)
        if topic.endswith(".dlq"):
            letter = parked_letter(topic, partition, offset, key, headers)
            alert = alert_for_letter(letter)
            if self.views.park(letter) and alert is not None:
                await self._book.raise_once(alert)
        else:
            try:
                event = from_kafka(key, value, headers)
                data = from_cloudevent(event)
            except (MalformedEvent, ValidationError) as exc:
                # The consuming service dead-letters it; the monitor only counts it.
                self.unreadable += 1
                log.warning("unreadable record topic=%s offset=%d: %s", topic, offset, exc)
                return
            if data is not None and self.views.apply(event.id, data):
                for alert in alerts_for_event(event.id, data):
                    await self._book.raise_once(alert)
        self.changed()

    async def check_clock(self) -> int:
        """Raise deadline alerts and alerts on cases stuck between services (approved and
        not enforced, enforced and not told) by the monitor's clock, once the streams are
        quiet.

        Waiting for a quiet moment keeps a rebuild from alerting on a case whose decision,
        enforcement or notification is further down its topic than the reader has got.
        """
        if time.monotonic() - self._last_record < self._quiet:
            return 0
        raised = 0
        now = self._clock()
        alerts = clock_alerts(self.views, now, self._window)
        if self._stalls is not None:
            alerts += stall_alerts(self.views, now, self._stalls)
        for alert in alerts:
            raised += await self._book.raise_once(alert)
        self.changed()
        return raised

    def changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_changed(self, timeout: float) -> None:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

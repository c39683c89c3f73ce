"""The monitor's live views: a fold over the events of every topic. Pure: no I/O, time passed in.

Which event changes what is the table of folds (``handlers.HANDLERS``) the views are
built with; this module keeps the state, the steps the folds share and the readings.
Applying the same record twice changes nothing (records are keyed by event id, dead
letters by their place in the dead-letter topic), so re-reading the topics from the
beginning after a restart rebuilds exactly the same figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from casework.contract import EventData
from casework.policy.notify import NotifyRules
from services.monitor.domain.cases import (
    HISTORY_HOURS,
    LIST_LIMIT,
    OPEN_STATES,
    CaseState,
    CaseView,
    DeadlineStatus,
    Failure,
    ParkedLetter,
    RaisedAlert,
    Stall,
    Tampering,
    hour_of,
    percentile,
)
from services.monitor.policy import MonitorRules

# A fold: one event type's change to the views (the event's data is of that type).
Fold = Callable[["Views", Any], None]
Folds = Mapping[type[EventData], Fold]


@dataclass
class Views:
    folds: Folds = field(repr=False, compare=False)
    cases: dict[str, CaseView] = field(default_factory=dict)
    submissions: dict[str, datetime] = field(default_factory=dict)
    submissions_per_hour: Counter[datetime] = field(default_factory=Counter)
    decisions_per_hour: Counter[datetime] = field(default_factory=Counter)
    failures_per_hour: Counter[datetime] = field(default_factory=Counter)
    enforcement_failures: Counter[str] = field(default_factory=Counter)
    notification_failures: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    parked: dict[tuple[str, int, int], ParkedLetter] = field(default_factory=dict)
    replayed: set[tuple[str, int, int]] = field(default_factory=set)
    tampering: dict[str, Tampering] = field(default_factory=dict)
    alerts_raised: Counter[str] = field(default_factory=Counter)
    alerts: dict[str, RaisedAlert] = field(default_factory=dict)
    read_up_to: dict[tuple[str, int], int] = field(default_factory=dict)
    lag: dict[str, dict[str, int]] = field(default_factory=dict)
    # Case → when the affected user or the public was first told (or given up on for good).
    told: dict[str, datetime] = field(default_factory=dict)
    # Cases enforcement gave up on (an enforcement-failed alert names each).
    failed_for_good: set[str] = field(default_factory=set)
    events_seen: int = 0
    version: int = 0
    _seen: set[str] = field(default_factory=set)

    # --- folding ------------------------------------------------------------------------

    def note_offset(self, topic: str, partition: int, offset: int) -> None:
        """The next offset after the newest record read: a floor for the end offset."""
        key = (topic, partition)
        self.read_up_to[key] = max(self.read_up_to.get(key, 0), offset + 1)

    def apply(self, event_id: str, data: EventData) -> bool:
        """Fold one decoded event in; False (and nothing changed) if it was seen before."""
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        self.events_seen += 1
        fold = self.folds.get(type(data))
        if fold is not None:
            fold(self, data)
        self.version += 1
        return True

    def park(self, letter: ParkedLetter) -> bool:
        if letter.place in self.parked:
            return False
        self.parked[letter.place] = letter
        self.failures_per_hour[hour_of(letter.at)] += 1
        self.version += 1
        return True

    def set_lag(self, lag: dict[str, dict[str, int]]) -> None:
        if lag != self.lag:
            self.lag = lag
            self.version += 1

    def case(self, case_id: str) -> CaseView:
        """The case's view, begun empty when this is the first event naming it."""
        case = self.cases.get(case_id)
        if case is None:
            case = self.cases[case_id] = CaseView(case_id)
        return case

    def note_decided(self, case: CaseView, at: datetime) -> None:
        self.decisions_per_hour[hour_of(at)] += 1
        case.decided_at = case.decided_at or at

    def note_failure(self, failure: Failure) -> None:
        self.failures.append(failure)

    def note_told(self, case_id: str, at: datetime) -> None:
        known = self.told.get(case_id)
        self.told[case_id] = at if known is None else min(known, at)

    def latest_alerts(self) -> list[RaisedAlert]:
        ordered = sorted(self.alerts.values(), key=lambda a: (a.at, a.key), reverse=True)
        return ordered[:LIST_LIMIT]

    def latest_failures(self) -> list[Failure]:
        """The newest failures first; the same order whatever order the partitions were read in."""
        ordered = sorted(
            self.failures, key=lambda f: (f.at, f.case_id, f.source, f.where, f.what), reverse=True
        )
        return ordered[:LIST_LIMIT]

    # --- reading ------------------------------------------------------------------------

    def open_cases(self) -> Counter[tuple[str, str]]:
        """Open cases counted by (state, action type)."""
        return Counter(
            (c.state.value, c.action_type) for c in self.cases.values() if c.state in OPEN_STATES
        )

    def late(
        self, now: datetime, at_risk_window: timedelta
    ) -> list[tuple[CaseView, DeadlineStatus]]:
        """Cases awaiting a decision whose deadline is at risk or breached, most urgent first."""
        found = [
            (case, status)
            for case in self.cases.values()
            if (status := case.deadline_status(now, at_risk_window)) is not None
        ]
        far = datetime.max.replace(tzinfo=now.tzinfo)
        found.sort(
            key=lambda cs: (
                cs[1] is not DeadlineStatus.BREACHED,
                cs[0].deadline_at or far,
                cs[0].case_id,
            )
        )
        return found

    def stalled(
        self, now: datetime, limits: MonitorRules, notify: NotifyRules
    ) -> list[tuple[CaseView, Stall, datetime, timedelta]]:
        """(case, stall, since when, the limit) for each case stuck between services past
        its limit, longest stuck first. A case enforcement gave up on is left to its
        enforcement-failed alert; one whose telling failed for good, to its
        notification-failed alert."""
        found: list[tuple[CaseView, Stall, datetime, timedelta]] = []
        for case in self.cases.values():
            if case.state is CaseState.APPROVED and case.approved_at is not None:
                if case.case_id in self.failed_for_good:
                    continue
                limit = limits.enforce_limit(case.action_type)
                if now - case.approved_at >= limit:
                    found.append((case, Stall.NOT_ENFORCED, case.approved_at, limit))
            elif case.state is CaseState.ENFORCED and case.enforced_at is not None:
                if case.case_id in self.told or not case.told_expected(notify):
                    continue
                limit = limits.tell_limit(case.action_type)
                if now - case.enforced_at >= limit:
                    found.append((case, Stall.NOT_TOLD, case.enforced_at, limit))
        found.sort(key=lambda c: (c[2], c[0].case_id))
        return found

    def parked_now(self) -> dict[str, int]:
        """Dead letters not yet replayed, per dead-letter topic."""
        counts: Counter[str] = Counter()
        for place in self.parked:
            if place not in self.replayed:
                counts[place[0]] += 1
        return dict(counts)

    def parked_total(self) -> dict[str, int]:
        return dict(Counter(place[0] for place in self.parked))

    def hourly(self, now: datetime) -> list[tuple[datetime, int, int, int]]:
        """(hour, submissions, decisions, failures) for each of the last 24 hours, oldest first."""
        last = hour_of(now)
        hours = [last - timedelta(hours=i) for i in range(HISTORY_HOURS - 1, -1, -1)]
        return [
            (
                h,
                self.submissions_per_hour[h],
                self.decisions_per_hour[h],
                self.failures_per_hour[h],
            )
            for h in hours
        ]

    def durations(self) -> dict[str, dict[str, float | None]]:
        """Percentiles of submission-to-decision and approval-to-enforcement, in seconds."""
        to_decision = []
        to_enforcement = []
        for case in self.cases.values():
            received = self.submissions.get(case.submission_id or "")
            if received is not None and case.decided_at is not None:
                to_decision.append((case.decided_at - received).total_seconds())
            if case.approved_at is not None and case.enforced_at is not None:
                to_enforcement.append((case.enforced_at - case.approved_at).total_seconds())
        return {
            name: {f"p{p}": percentile(values, p) for p in (50, 90, 99)}
            for name, values in (
                ("submission_to_decision", to_decision),
                ("decision_to_enforcement", to_enforcement),
            )
        }

"""The monitor's live views: a fold over the events of every topic. Pure: no I/O, time passed in.

Applying the same record twice changes nothing (records are keyed by event id, dead
letters by their place in the dead-letter topic), so re-reading the topics from the
beginning after a restart rebuilds exactly the same figures.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from casework.contract import (
    ActionEnforced,
    ActionExpired,
    ActionReversed,
    Audience,
    CaseOpened,
    DeadlineAtRisk,
    DeadlineBreached,
    Decision,
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    EnforcementFailed,
    EventData,
    NotificationFailed,
    NotificationSent,
    SubmissionReceived,
    TamperingDetected,
)
from casework.contract.monitor import AlertRaised, DeadLetterReplayed
from casework.policy.monitor import MonitorRules
from casework.policy.notify import NotifyRules

UNKNOWN_ACTION = "unknown"
HISTORY_HOURS = 24
LIST_LIMIT = 50


class CaseState(StrEnum):
    UNDER_REVIEW = "under-review"
    APPROVED = "approved"  # awaiting enforcement
    ENFORCED = "enforced"
    DECLINED = "declined"
    REVERSED = "reversed"
    EXPIRED = "expired"


OPEN_STATES = frozenset({CaseState.UNDER_REVIEW, CaseState.APPROVED})
# Topics are read in no particular order relative to each other (after a restart the
# whole history comes at once), so a case only ever moves to a later state.
STATE_RANK = {
    CaseState.UNDER_REVIEW: 0,
    CaseState.APPROVED: 1,
    CaseState.DECLINED: 1,
    CaseState.ENFORCED: 2,
    CaseState.REVERSED: 3,
    CaseState.EXPIRED: 3,
}


class DeadlineStatus(StrEnum):
    AT_RISK = "at-risk"
    BREACHED = "breached"


class Stall(StrEnum):
    """A case waiting too long between two services (limits: the policy's `monitor:`)."""

    NOT_ENFORCED = "not-enforced"  # approved, enforcement has not reported it done
    NOT_TOLD = "not-told"  # enforced, neither the affected user nor the public told


# Whom notify tells of an enforcement: telling either (or failing for good) settles it.
TOLD_OF_ENFORCEMENT = frozenset({Audience.AFFECTED_USER, Audience.PUBLIC})


@dataclass
class CaseView:
    case_id: str
    action_type: str = UNKNOWN_ACTION
    state: CaseState = CaseState.UNDER_REVIEW
    submission_id: str | None = None
    deadline_at: datetime | None = None
    approved_at: datetime | None = None
    decided_at: datetime | None = None
    enforced_at: datetime | None = None
    action_from_decision: bool = False
    reported: DeadlineStatus | None = None  # what review's own deadline events said
    # From the decision: does notify tell the affected user (an address) or the public?
    subject_email: bool = False
    public_statement: bool = True

    def move_to(self, state: CaseState) -> None:
        if STATE_RANK[state] > STATE_RANK[self.state]:
            self.state = state

    def decided_by(self, action_type: str) -> None:
        self.action_type = action_type
        self.action_from_decision = True

    def note_decision(self, decision: Decision) -> None:
        self.decided_by(decision.action_type)
        self.subject_email = decision.subject.email is not None
        self.public_statement = decision.disclosure.public_statement

    def told_expected(self, notify: NotifyRules) -> bool:
        """Notify tells someone of the enforcement: the affected user or the public."""
        withheld = notify.statement_withheld(self.action_type, self.public_statement)
        return self.subject_email or not withheld

    def deadline_status(self, now: datetime, at_risk_window: timedelta) -> DeadlineStatus | None:
        """Late while a decision is still awaited: by review's word or by the monitor's clock."""
        if self.state is not CaseState.UNDER_REVIEW:
            return None
        status = self.reported
        if self.deadline_at is not None:
            if now >= self.deadline_at:
                return DeadlineStatus.BREACHED
            if self.deadline_at - now <= at_risk_window:
                status = status or DeadlineStatus.AT_RISK
        return status


@dataclass(frozen=True)
class Failure:
    case_id: str
    source: str  # "enforcement" or "notify"
    where: str  # the wiki, or audience/channel
    what: str
    permanent: bool
    at: datetime


@dataclass(frozen=True)
class ParkedLetter:
    dead_letter_topic: str
    partition: int
    offset: int
    source_topic: str
    event_id: str | None
    event_type: str | None
    case_id: str | None
    error: str
    at: datetime
    error_type: str = ""

    @property
    def place(self) -> tuple[str, int, int]:
        return (self.dead_letter_topic, self.partition, self.offset)


@dataclass(frozen=True)
class RaisedAlert:
    key: str
    kind: str
    case_id: str | None
    what_happened: str
    what_to_do: str
    at: datetime


@dataclass(frozen=True)
class Tampering:
    tampering_id: str
    case_id: str
    wiki: str
    what: str
    performer: str
    at: datetime


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class Views:
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
        self._fold(data)
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

    def _case(self, case_id: str) -> CaseView:
        case = self.cases.get(case_id)
        if case is None:
            case = self.cases[case_id] = CaseView(case_id)
        return case

    def _fold(self, data: EventData) -> None:
        if isinstance(data, SubmissionReceived):
            self.submissions[data.submission_id] = data.received_at
            self.submissions_per_hour[hour_of(data.received_at)] += 1
        elif isinstance(data, CaseOpened):
            case = self._case(data.case_id)
            if not case.action_from_decision:
                case.action_type = data.action_type or UNKNOWN_ACTION
            case.submission_id = data.submission_id
            case.deadline_at = data.deadline_at
        elif isinstance(data, DecisionApproved):
            case = self._case(data.case_id)
            case.note_decision(data.decision)
            case.move_to(CaseState.APPROVED)
            case.approved_at = data.approved_at
            self._decided(case, data.approved_at)
        elif isinstance(data, DecisionDeclined):
            case = self._case(data.case_id)
            case.move_to(CaseState.DECLINED)
            self._decided(case, data.declined_at)
        elif isinstance(data, ActionEnforced):
            case = self._case(data.case_id)
            case.note_decision(data.decision)
            case.move_to(CaseState.ENFORCED)
            case.enforced_at = case.enforced_at or data.enforced_at
        elif isinstance(data, DecisionReversed | ActionReversed):
            self._case(data.case_id).move_to(CaseState.REVERSED)
        elif isinstance(data, ActionExpired):
            self._case(data.case_id).move_to(CaseState.EXPIRED)
        elif isinstance(data, DeadlineAtRisk | DeadlineBreached):
            case = self._case(data.case_id)
            case.deadline_at = case.deadline_at or data.deadline_at
            status = (
                DeadlineStatus.BREACHED
                if isinstance(data, DeadlineBreached)
                else DeadlineStatus.AT_RISK
            )
            if case.reported is not DeadlineStatus.BREACHED:
                case.reported = status
        elif isinstance(data, EnforcementFailed):
            if data.permanent:
                self.failed_for_good.add(data.case_id)
            self.enforcement_failures[data.wiki] += 1
            self.failures_per_hour[hour_of(data.failed_at)] += 1
            what = f"{data.kind} {data.target}: {data.error_code} {data.error_info}".strip()
            self._fail(
                Failure(
                    data.case_id, "enforcement", data.wiki, what, data.permanent, data.failed_at
                )
            )
        elif isinstance(data, NotificationSent):
            if data.audience in TOLD_OF_ENFORCEMENT:
                self._told(data.case_id, data.sent_at)
        elif isinstance(data, NotificationFailed):
            if data.permanent and data.audience in TOLD_OF_ENFORCEMENT:
                self._told(data.case_id, data.failed_at)
            where = f"{data.audience}/{data.channel}"
            self.notification_failures[where] += 1
            self.failures_per_hour[hour_of(data.failed_at)] += 1
            self._fail(
                Failure(data.case_id, "notify", where, data.reason, data.permanent, data.failed_at)
            )
        elif isinstance(data, TamperingDetected):
            self.tampering[data.tampering_id] = Tampering(
                data.tampering_id,
                data.case_id,
                data.wiki,
                f"{data.log_type}/{data.log_action} {data.target}",
                data.performer,
                data.detected_at,
            )
        elif isinstance(data, AlertRaised):
            if data.alert_key not in self.alerts:
                self.alerts_raised[data.kind] += 1
                self.alerts[data.alert_key] = RaisedAlert(
                    data.alert_key,
                    str(data.kind),
                    data.case_id,
                    data.what_happened,
                    data.what_to_do,
                    data.raised_at,
                )
        elif isinstance(data, DeadLetterReplayed):
            self.replayed.add((data.dead_letter_topic, data.partition, data.offset))

    def _decided(self, case: CaseView, at: datetime) -> None:
        self.decisions_per_hour[hour_of(at)] += 1
        case.decided_at = case.decided_at or at

    def _fail(self, failure: Failure) -> None:
        self.failures.append(failure)

    def _told(self, case_id: str, at: datetime) -> None:
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

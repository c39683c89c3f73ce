"""Deadlines on a calendar: due and at-risk times, pausing, and the events they raise. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from casework.contract import DeadlineAtRisk, DeadlineBreached, EventData, SubmissionKind
from casework.policy import Policy
from casework.policy.review import AtRisk, Period
from services.review.domain.case import FINAL_STATES, Case, Deadline, alert_at


def add_business_days(start: datetime, days: int, holidays: Iterable[date]) -> datetime:
    """Count Monday to Friday, skipping the policy's holidays; the time of day is kept."""
    skip = set(holidays)
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current.date() not in skip:
            remaining -= 1
    return current


def due(period: Period, start: datetime, holidays: Iterable[date]) -> datetime:
    if period.hours is not None:
        return start + timedelta(hours=period.hours)
    if period.days is not None:
        return start + timedelta(days=period.days)
    assert period.business_days is not None
    return add_business_days(start, period.business_days, holidays)


def at_risk_time(rule: AtRisk, start: datetime, due_at: datetime) -> datetime:
    if rule.fraction is not None:
        return due_at - (due_at - start) * rule.fraction
    assert rule.hours is not None
    return max(start, due_at - timedelta(hours=rule.hours))


def period_for(case: Case, policy: Policy) -> Period | None:
    """The policy's deadline for this kind of case: an inquiry's own, or its action type's."""
    if case.kind is SubmissionKind.INQUIRY:
        return policy.review.inquiry_deadline
    if case.action_type is None or case.action_type not in policy.action_types:
        return None
    deadline = policy.action(case.action_type).deadline
    if deadline is None:
        return None
    return Period(hours=deadline.hours, days=deadline.days, business_days=deadline.business_days)


def start_deadline(case: Case, policy: Policy, start: datetime) -> Deadline | None:
    period = period_for(case, policy)
    if period is None:
        return None
    due_at = due(period, start, policy.review.holidays)
    return Deadline(
        started_at=start,
        due_at=due_at,
        at_risk_at=at_risk_time(policy.review.at_risk, start, due_at),
    )


@dataclass(frozen=True)
class Calendar:
    """When a deadline's clock runs: every hour of every day, or only on business days
    (Monday to Friday, not the policy's holidays; days in UTC)."""

    business_days: bool = False
    holidays: frozenset[date] = frozenset()

    def runs_on(self, day: date) -> bool:
        return not self.business_days or (day.weekday() < 5 and day not in self.holidays)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """How much of the clock's time passed from ``start`` to ``end``."""
        if not self.business_days or end <= start:
            return max(end - start, timedelta(0))
        total = timedelta(0)
        cursor = start
        while cursor < end:
            segment_end = min(end, _next_midnight(cursor))
            if self.runs_on(cursor.date()):
                total += segment_end - cursor
            cursor = segment_end
        return total

    def shift(self, moment: datetime, amount: timedelta) -> datetime:
        """``moment`` moved on by ``amount`` of the clock's time."""
        if not self.business_days or amount <= timedelta(0):
            return moment + amount
        cursor, remaining = moment, amount
        while True:
            midnight = _next_midnight(cursor)
            if self.runs_on(cursor.date()):
                if remaining <= midnight - cursor:
                    return cursor + remaining
                remaining -= midnight - cursor
            cursor = midnight


WALL_CLOCK = Calendar()


def _next_midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date() + timedelta(days=1), time(), tzinfo=moment.tzinfo)


def calendar_for(case: Case, policy: Policy) -> Calendar:
    """The calendar of the case's deadline: business days for a business-day period."""
    period = period_for(case, policy)
    if period is None or period.business_days is None:
        return WALL_CLOCK
    return Calendar(business_days=True, holidays=frozenset(policy.review.holidays))


def due_by(deadline: Deadline, now: datetime, calendar: Calendar) -> datetime:
    """The real due date as of ``now``: pauses included, a pause still running counted
    up to ``now`` (as resuming at ``now`` would shift it)."""
    if deadline.paused_at is None:
        return deadline.due_at
    return calendar.shift(deadline.due_at, calendar.elapsed(deadline.paused_at, now))


def set_waiting(
    case: Case, waiting: bool, actor: str, now: datetime, why: str = "", *, calendar: Calendar
) -> Case:
    """Pause the clock while waiting for the requester; resume moves the due and at-risk
    times on by the time paused as the deadline's calendar counts it (a pause over a
    weekend costs a business-day deadline nothing)."""
    case.check_open()
    if case.waiting_for_requester == waiting:
        return case
    d = case.deadline
    if d is not None and waiting:
        d = d.model_copy(update={"paused_at": now})
    elif d is not None and d.paused_at is not None:
        paused_for = calendar.elapsed(d.paused_at, now)
        d = d.model_copy(
            update={
                "paused_at": None,
                "due_at": calendar.shift(d.due_at, paused_for),
                "at_risk_at": calendar.shift(d.at_risk_at, paused_for),
            }
        )
    action = "waiting-for-requester" if waiting else "resumed"
    updated = case.model_copy(update={"waiting_for_requester": waiting, "deadline": d})
    return updated.with_entry(now, actor, action, why)


def check_deadline(case: Case, now: datetime) -> tuple[Case, list[EventData]]:
    """Raise what is due by ``now``: at most one at-risk and one breached event per case."""
    d = case.deadline
    when = alert_at(case)
    if d is None or when is None or when > now or case.state in FINAL_STATES:
        return case, []
    events: list[EventData] = []
    updated = case
    if not d.at_risk_flagged:
        d = d.model_copy(update={"at_risk_flagged": True})
        events.append(
            DeadlineAtRisk(
                case_id=case.id, action_type=case.action_type, deadline_at=d.due_at, detected_at=now
            )
        )
        updated = updated.with_entry(now, "system", "deadline-at-risk", f"due {d.due_at}")
    if d.due_at <= now and not d.breached_flagged:
        d = d.model_copy(update={"breached_flagged": True})
        events.append(
            DeadlineBreached(
                case_id=case.id, action_type=case.action_type, deadline_at=d.due_at, detected_at=now
            )
        )
        updated = updated.with_entry(now, "system", "deadline-breached", f"due {d.due_at}")
    return updated.model_copy(update={"deadline": d}), events

"""Deadlines on the policy's calendar: business days with holidays, at-risk times,
pausing while waiting for the requester, and each event raised once. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from casework.contract import (
    Channel,
    CorrespondenceReceived,
    DeadlineAtRisk,
    DeadlineBreached,
    Requester,
    SubmissionKind,
    SubmissionReceived,
)
from casework.errors import Rejected
from casework.policy import load_policy
from casework.policy.review import AtRisk, Period, ReviewRules
from services.review.domain.case import Case, CaseState, alert_at
from services.review.domain.casefile import record_correspondence
from services.review.domain.deadlines import (
    WALL_CLOCK,
    Calendar,
    add_business_days,
    at_risk_time,
    calendar_for,
    check_deadline,
    set_waiting,
    start_deadline,
)
from services.review.domain.opening import open_case
from services.review.domain.rules import check_rules

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
MONDAY = datetime(2026, 12, 21, 15, 30, tzinfo=UTC)


def opened(action: str, received_at: datetime = MONDAY) -> Case:
    submission = SubmissionReceived(
        submission_id="R-DEADLINE0001",
        kind=SubmissionKind.REQUEST,
        channel=Channel.FORM,
        action_type=action,
        routed_to=POLICY.action(action).routed_to,
        summary="Please act.",
        requester=Requester(name="R", email="r@example.org"),
        received_at=received_at,
    )
    case, _ = open_case(submission, POLICY, received_at)
    return case


def test_business_days_skip_weekends_and_the_policys_holidays() -> None:
    # 24, 25 and 31 December and 1 January are holidays in the default policy.
    assert add_business_days(MONDAY, 7, POLICY.review.holidays) == datetime(
        2027, 1, 5, 15, 30, tzinfo=UTC
    )
    assert add_business_days(MONDAY, 7, []) == datetime(2026, 12, 30, 15, 30, tzinfo=UTC)


def test_a_dmca_case_is_due_on_the_business_calendar() -> None:
    case = opened("dmca-takedown")
    assert case.deadline_at == datetime(2027, 1, 5, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (AtRisk(fraction=0.25), datetime(2026, 12, 22, 9, 30, tzinfo=UTC)),
        (AtRisk(hours=2), datetime(2026, 12, 22, 13, 30, tzinfo=UTC)),
        (AtRisk(hours=48), MONDAY),  # never before the start
    ],
)
def test_at_risk_times(rule: AtRisk, expected: datetime) -> None:
    assert at_risk_time(rule, MONDAY, MONDAY + timedelta(hours=24)) == expected


def test_each_event_is_raised_once_and_on_time() -> None:
    case = opened("child-protection")
    assert check_deadline(case, MONDAY + timedelta(hours=17)) == (case, [])
    case, events = check_deadline(case, MONDAY + timedelta(hours=18))
    assert [type(e) for e in events] == [DeadlineAtRisk]
    assert check_deadline(case, MONDAY + timedelta(hours=19))[1] == []
    assert alert_at(case) == MONDAY + timedelta(hours=24)
    case, events = check_deadline(case, MONDAY + timedelta(hours=24))
    assert [type(e) for e in events] == [DeadlineBreached]
    assert alert_at(case) is None
    assert check_deadline(case, MONDAY + timedelta(days=9))[1] == []


def test_a_late_first_look_raises_both_in_order() -> None:
    case, events = check_deadline(opened("child-protection"), MONDAY + timedelta(days=2))
    assert [type(e) for e in events] == [DeadlineAtRisk, DeadlineBreached]
    assert [e.action for e in case.timeline][-2:] == ["deadline-at-risk", "deadline-breached"]


def test_a_closed_case_raises_nothing() -> None:
    case = opened("child-protection").model_copy(update={"state": CaseState.DECLINED})
    assert check_deadline(case, MONDAY + timedelta(days=2))[1] == []


def test_waiting_for_the_requester_pauses_the_clock() -> None:
    case = opened("child-protection")
    calendar = calendar_for(case, POLICY)
    assert calendar == WALL_CLOCK  # an hours deadline runs every hour
    paused = set_waiting(
        case, True, "alice", MONDAY + timedelta(hours=2), "Asked for the URL.", calendar=calendar
    )
    assert paused.waiting_for_requester and alert_at(paused) is None
    assert check_deadline(paused, MONDAY + timedelta(days=5))[1] == []
    assert set_waiting(paused, True, "alice", MONDAY + timedelta(hours=3), calendar=calendar) == (
        paused
    )
    resumed = set_waiting(paused, False, "alice", MONDAY + timedelta(hours=12), calendar=calendar)
    assert resumed.deadline_at == MONDAY + timedelta(hours=34)
    assert [e.action for e in resumed.timeline][-2:] == ["waiting-for-requester", "resumed"]
    closed = resumed.model_copy(update={"state": CaseState.APPROVED})
    with pytest.raises(Rejected):
        set_waiting(closed, True, "alice", MONDAY, calendar=calendar)


BUSINESS = Calendar(business_days=True, holidays=frozenset(POLICY.review.holidays))
FRIDAY_10 = datetime(2026, 11, 6, 10, 0, tzinfo=UTC)
MONDAY_10 = datetime(2026, 11, 9, 10, 0, tzinfo=UTC)


def test_the_business_calendar_counts_only_business_days() -> None:
    assert BUSINESS.elapsed(FRIDAY_10, MONDAY_10) == timedelta(hours=24)
    assert BUSINESS.shift(FRIDAY_10, timedelta(hours=24)) == MONDAY_10
    saturday, sunday = datetime(2026, 11, 7, 9, tzinfo=UTC), datetime(2026, 11, 8, 18, tzinfo=UTC)
    assert BUSINESS.elapsed(saturday, sunday) == timedelta(0)
    # 24 and 25 December are holidays: Wednesday 23rd noon to Monday 28th noon is one business day.
    assert BUSINESS.elapsed(
        datetime(2026, 12, 23, 12, tzinfo=UTC), datetime(2026, 12, 28, 12, tzinfo=UTC)
    ) == timedelta(hours=24)
    assert BUSINESS.shift(datetime(2026, 12, 23, 12, tzinfo=UTC), timedelta(hours=24)) == (
        datetime(2026, 12, 28, 12, tzinfo=UTC)
    )
    assert WALL_CLOCK.elapsed(FRIDAY_10, MONDAY_10) == timedelta(days=3)


def test_a_dmca_pause_over_a_weekend_moves_the_due_time_one_business_day() -> None:
    case = opened("dmca-takedown", received_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    calendar = calendar_for(case, POLICY)
    assert calendar == BUSINESS
    assert case.deadline_at == datetime(2026, 11, 11, 9, 0, tzinfo=UTC)  # 7 business days
    paused = set_waiting(case, True, "alice", FRIDAY_10, "Asked.", calendar=calendar)
    resumed = set_waiting(paused, False, "alice", MONDAY_10, calendar=calendar)
    # One business day paused (Friday 10:00 to Monday 10:00), not three calendar days.
    assert resumed.deadline_at == datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
    assert case.deadline is not None and resumed.deadline is not None
    assert resumed.deadline.at_risk_at == BUSINESS.shift(
        case.deadline.at_risk_at, timedelta(hours=24)
    )
    # Waiting over a weekend only costs nothing.
    weekend = set_waiting(
        case, True, "alice", datetime(2026, 11, 7, 9, tzinfo=UTC), calendar=calendar
    )
    back = set_waiting(
        weekend, False, "alice", datetime(2026, 11, 8, 18, tzinfo=UTC), calendar=calendar
    )
    assert back.deadline_at == case.deadline_at


def test_a_pause_over_the_holidays_skips_them() -> None:
    case = opened("dmca-takedown")  # Monday 21 December 15:30, due 5 January 15:30
    calendar = calendar_for(case, POLICY)
    paused = set_waiting(
        case, True, "alice", datetime(2026, 12, 23, 15, 30, tzinfo=UTC), calendar=calendar
    )
    resumed = set_waiting(
        paused, False, "alice", datetime(2027, 1, 4, 15, 30, tzinfo=UTC), calendar=calendar
    )
    # Paused for 4 business days (23rd afternoon, 28th to 30th, 4th morning).
    assert case.deadline_at is not None
    assert resumed.deadline_at == add_business_days(case.deadline_at, 4, POLICY.review.holidays)
    assert resumed.deadline_at == datetime(2027, 1, 11, 15, 30, tzinfo=UTC)


def test_an_inquiry_deadline_runs_on_business_days_and_a_reply_resumes_it() -> None:
    inquiry = opened("global-ban").model_copy(
        update={"kind": SubmissionKind.INQUIRY, "action_type": None}
    )
    inquiry = inquiry.model_copy(update={"deadline": start_deadline(inquiry, POLICY, FRIDAY_10)})
    calendar = calendar_for(inquiry, POLICY)
    assert calendar == BUSINESS
    paused = set_waiting(inquiry, True, "alice", FRIDAY_10, calendar=calendar)
    reply = CorrespondenceReceived(
        submission_id="R-DEADLINE0001",
        channel=Channel.EMAIL,
        sender="r@example.org",
        summary="Here it is.",
        received_at=MONDAY_10,
        from_requester=True,
        sender_verified_by="address",
    )
    resumed = record_correspondence(paused, reply, "event-1", MONDAY_10, calendar)
    assert not resumed.waiting_for_requester
    assert inquiry.deadline_at is not None
    assert resumed.deadline_at == BUSINESS.shift(inquiry.deadline_at, timedelta(hours=24))


@pytest.mark.parametrize(
    "section",
    [
        {"at_risk": {"fraction": 0.5, "hours": 3}},
        {"at_risk": {"fraction": 1.5}},
        {"inquiry_deadline": {"days": 3, "hours": 2}},
        {"holidays": ["not-a-date"]},
        {"deadline_scan_seconds": 0},
        {"unknown_rule": True},
    ],
)
def test_a_bad_review_section_is_refused(section: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ReviewRules.model_validate(section)


def test_the_review_section_must_agree_with_the_rest_of_the_policy() -> None:
    rules = ReviewRules.model_validate(
        {
            "expedited": {
                "child-protection": {"proceed_after": ["ts-manager"]},
                "no-such": {"proceed_after": ["x"]},
            },
            "reversal_levels": ["janitor"],
            "inquiry_deadline": Period(days=5).model_dump(exclude_none=True),
        }
    )
    policy = POLICY.model_copy(update={"review": rules})
    assert check_rules(policy) == [
        "review.reversal_levels[0]: unknown sign-off level 'janitor'",
        "review.expedited.child-protection.proceed_after: must be the first levels of its "
        "sign-off chain ['legal-counsel', 'ts-manager']",
        "review.expedited.no-such: unknown action type",
    ]
    assert date(2027, 1, 1) in POLICY.review.holidays

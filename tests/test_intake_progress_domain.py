"""The fold of review's CaseProgressed reports into where a submission stands (pure), and the
life cycle its requester is shown."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from casework.contract import CaseProgressed
from services.intake.domain.progress import HISTORY_KEPT, Progress, Step, fold, life_cycle

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
RECEIVED_AT = T0 - timedelta(minutes=5)
APPEAL_UNTIL = T0 + timedelta(days=365)


def report(stage: Any, minutes: int, appeal_until: datetime | None = None) -> CaseProgressed:
    return CaseProgressed(
        case_id="OA-ABCDEFGH2345",
        submission_id="R-ABCDEFGH2345",
        stage=stage,
        appeal_until=appeal_until,
        at=T0 + timedelta(minutes=minutes),
    )


LIFE = [
    report("under-review", 0),
    report("waiting-for-you", 1),
    report("under-review", 2),
    report("approved", 3, APPEAL_UNTIL),
    report("enforced", 4, APPEAL_UNTIL),
]


def folded(events: list[CaseProgressed], start: Progress | None = None) -> Progress | None:
    current = start
    for event in events:
        current = fold(current, event)
    return current


def test_the_newest_report_is_where_the_case_stands_and_every_step_is_kept() -> None:
    progress = folded(LIFE)
    assert progress is not None
    assert (progress.stage, progress.at, progress.appeal_until) == (
        "enforced",
        T0 + timedelta(minutes=4),
        APPEAL_UNTIL,
    )
    assert [s.stage for s in progress.history] == [
        "under-review",
        "waiting-for-you",
        "under-review",
        "approved",
        "enforced",
    ]


def test_any_arrival_order_folds_to_the_same_progress() -> None:
    expected = folded(LIFE)
    for order in itertools.permutations(LIFE):
        assert folded(list(order)) == expected, [e.stage for e in order]


def test_an_older_report_arriving_late_never_overwrites_a_newer_one() -> None:
    enforced = folded([LIFE[4]])
    late = fold(enforced, LIFE[1])
    assert late.stage == "enforced" and late.appeal_until == APPEAL_UNTIL
    # ...but it takes its place in the history.
    assert [s.stage for s in late.history] == ["waiting-for-you", "enforced"]


def test_the_same_report_twice_changes_nothing() -> None:
    once = folded(LIFE)
    assert once is not None
    for event in LIFE:
        assert fold(once, event) == once


def test_reports_at_the_same_instant_settle_on_the_later_stage_whatever_the_order() -> None:
    approved, enforced = report("approved", 3, APPEAL_UNTIL), report("enforced", 3, APPEAL_UNTIL)
    assert fold(fold(None, approved), enforced).stage == "enforced"
    assert fold(fold(None, enforced), approved).stage == "enforced"


def test_the_history_keeps_the_newest_steps() -> None:
    flips = [report("waiting-for-you" if i % 2 else "under-review", i) for i in range(50)]
    progress = folded(flips)
    assert progress is not None
    assert len(progress.history) == HISTORY_KEPT
    assert progress.history[-1] == Step(T0 + timedelta(minutes=49), "waiting-for-you")
    assert progress.history[0].at == T0 + timedelta(minutes=50 - HISTORY_KEPT)
    # A very old report arriving now is outside what is kept: nothing changes.
    assert fold(progress, report("under-review", -10)) == progress


def test_received_until_the_first_report_then_the_stages_once_each() -> None:
    nothing = life_cycle("R-ABCDEFGH2345", "request", RECEIVED_AT, None, T0)
    assert nothing.status == "received"
    assert nothing.history == (Step(RECEIVED_AT, "received"),)
    assert nothing.appeal_open_until is None
    # The appeal window moved: the same stage again, shown once from when it began.
    moved = report("enforced", 9, APPEAL_UNTIL + timedelta(days=1))
    shown = life_cycle("R-ABCDEFGH2345", "request", RECEIVED_AT, folded([*LIFE, moved]), T0)
    assert shown.status == "enforced"
    assert [(s.stage, s.at) for s in shown.history] == [
        ("received", RECEIVED_AT),
        ("under-review", T0),
        ("waiting-for-you", T0 + timedelta(minutes=1)),
        ("under-review", T0 + timedelta(minutes=2)),
        ("approved", T0 + timedelta(minutes=3)),
        ("enforced", T0 + timedelta(minutes=4)),
    ]
    assert shown.appeal_open_until == APPEAL_UNTIL + timedelta(days=1)


def test_the_appeal_window_is_shown_only_while_open_and_the_action_stands() -> None:
    enforced = folded(LIFE)
    assert life_cycle("R-X", "request", RECEIVED_AT, enforced, T0).appeal_open_until == (
        APPEAL_UNTIL
    )
    after = APPEAL_UNTIL + timedelta(seconds=1)
    assert life_cycle("R-X", "request", RECEIVED_AT, enforced, after).appeal_open_until is None
    # A reversal that still carried a window (it should not) shows none.
    reversed_ = fold(enforced, report("reversed", 10, APPEAL_UNTIL))
    assert reversed_.stage == "reversed"
    assert life_cycle("R-X", "request", RECEIVED_AT, reversed_, T0).appeal_open_until is None

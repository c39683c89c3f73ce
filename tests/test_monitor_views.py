"""The monitor's views, alerts and summary as pure functions (no broker): the folding rules."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from casework.contract import (
    EVENT_TYPES,
    SERVICES,
    EventData,
    dead_letter_topic_of,
    topic_of,
)
from casework.contract.monitor import AlertKind
from services.monitor.adapters.texts import alert_text, texts
from services.monitor.app import source_topics
from services.monitor.domain.alerts import alert_for_letter, alerts_for_event, clock_alerts
from services.monitor.domain.cases import DeadlineStatus, ParkedLetter, percentile
from services.monitor.domain.summary import summarise
from services.monitor.domain.views import Views
from services.monitor.handlers import HANDLERS
from tests.examples import like
from tests.test_contract import EXAMPLES

NOW = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
WINDOW = timedelta(hours=24)


def url(case_id: str) -> str:
    return f"http://review/console/cases/{case_id}"


def story(case_id: str, submission_id: str, minutes_to_decision: int) -> list[EventData]:
    received = NOW - timedelta(hours=5)
    approved = received + timedelta(minutes=minutes_to_decision)
    return [
        like("SubmissionReceived", submission_id=submission_id, received_at=received),
        like(
            "CaseOpened",
            case_id=case_id,
            submission_id=submission_id,
            opened_at=received,
            deadline_at=NOW + timedelta(days=5),
        ),
        like("DecisionApproved", case_id=case_id, approved_at=approved),
        like("ActionEnforced", case_id=case_id, enforced_at=approved + timedelta(minutes=10)),
    ]


def fold(events: list[tuple[str, EventData]]) -> Views:
    views = Views(HANDLERS)
    for event_id, data in events:
        views.apply(event_id, data)
    return views


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 50) is None
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 90) == 90
    assert percentile(values, 99) == 99
    assert percentile([3.0, 1.0, 2.0], 50) == 2


def test_a_case_moves_through_its_states_and_times_are_measured() -> None:
    views = Views(HANDLERS)
    events = story("OA-1", "R-1", minutes_to_decision=60)
    views.apply("e1", events[0])
    views.apply("e2", events[1])
    assert views.open_cases() == {("under-review", "global-ban"): 1}
    views.apply("e3", events[2])
    assert views.open_cases() == {("approved", "global-ban"): 1}
    views.apply("e4", events[3])
    assert views.open_cases() == {}
    assert views.durations()["submission_to_decision"]["p50"] == 3600
    assert views.durations()["decision_to_enforcement"]["p99"] == 600


def test_the_figures_do_not_depend_on_the_order_topics_are_read_in() -> None:
    events: list[tuple[str, EventData]] = []
    for n in range(4):
        events += [(f"{n}-{i}", e) for i, e in enumerate(story(f"OA-{n}", f"R-{n}", 30 * (n + 1)))]
    expected = summarise(fold(events), NOW, WINDOW, url)
    shuffled = random.Random(7)
    for _ in range(20):
        order = events[:]
        shuffled.shuffle(order)
        assert summarise(fold(order), NOW, WINDOW, url) == expected
    assert expected["durations"]["submission_to_decision"] == {
        "p50": 3600,
        "p90": 7200,
        "p99": 7200,
    }


def test_an_event_applied_twice_counts_once() -> None:
    views = Views(HANDLERS)
    failed = like("EnforcementFailed", case_id="OA-1", wiki="dewiki", permanent=True)
    assert views.apply("same", failed)
    assert not views.apply("same", failed)
    assert views.enforcement_failures == {"dewiki": 1}


def test_deadlines_by_review_and_by_the_clock() -> None:
    views = Views(HANDLERS)
    for case_id, deadline in (
        ("OA-late", NOW - timedelta(minutes=1)),
        ("OA-soon", NOW + timedelta(hours=2)),
        ("OA-far", NOW + timedelta(days=9)),
    ):
        views.apply(
            case_id,
            like("CaseOpened", case_id=case_id, submission_id="R-" + case_id, deadline_at=deadline),
        )
    views.apply("r1", like("DeadlineAtRisk", case_id="OA-far", deadline_at=NOW + timedelta(days=9)))
    late = {case.case_id: status for case, status in views.late(NOW, WINDOW)}
    assert late == {
        "OA-late": DeadlineStatus.BREACHED,
        "OA-soon": DeadlineStatus.AT_RISK,
        "OA-far": DeadlineStatus.AT_RISK,
    }
    views.apply("d1", like("DecisionDeclined", case_id="OA-late"))
    assert "OA-late" not in {case.case_id for case, _ in views.late(NOW, WINDOW)}
    keys = sorted(a.key for a in clock_alerts(views, NOW, WINDOW))
    assert keys == ["deadline-at-risk:OA-far", "deadline-at-risk:OA-soon"]


def test_alert_keys_name_the_problem_not_the_event() -> None:
    breached = like("DeadlineBreached", case_id="OA-1")
    assert (
        [a.key for a in alerts_for_event("e1", breached)]
        == [a.key for a in alerts_for_event("e2", breached)]
        == ["deadline-breached:OA-1"]
    )
    retrying = like("EnforcementFailed", case_id="OA-1", permanent=False)
    assert alerts_for_event("e3", retrying) == []
    letter = ParkedLetter(
        "officeactions.notify.dlq",
        2,
        9,
        "officeactions.enforcement",
        "e4",
        "t",
        "OA-1",
        "boom",
        NOW,
    )
    alert = alert_for_letter(letter)
    assert alert is not None and alert.key == "dead-lettered:officeactions.notify.dlq:2:9"
    parked_alert = ParkedLetter(
        "officeactions.notify.dlq",
        2,
        10,
        "officeactions.monitor",
        "e5",
        "officeactions.monitor.alert-raised.v1",
        "OA-1",
        "smtp down",
        NOW,
    )
    assert alert_for_letter(parked_alert) is None  # no alert, fail, park, alert loop


def test_dead_letters_parked_and_replayed() -> None:
    views = Views(HANDLERS)
    for offset in range(3):
        views.park(
            ParkedLetter(
                "officeactions.review.dlq",
                0,
                offset,
                "officeactions.intake",
                None,
                None,
                None,
                "x",
                NOW,
            )
        )
    views.apply(
        "rp",
        like(
            "DeadLetterReplayed",
            dead_letter_topic="officeactions.review.dlq",
            partition=0,
            offset=1,
        ),
    )
    assert views.parked_total() == {"officeactions.review.dlq": 3}
    assert views.parked_now() == {"officeactions.review.dlq": 2}


def test_the_chart_has_three_bars_for_each_of_24_hours() -> None:
    views = fold([(str(i), e) for i, e in enumerate(story("OA-1", "R-1", 60))])
    chart = summarise(views, NOW, WINDOW, url)["chart"]
    assert len(chart["bars"]) == 72
    tallest = [b for b in chart["bars"] if b["count"] == 1]
    assert {b["series"] for b in tallest} == {"submissions", "decisions"}
    assert all(itertools.starmap(lambda a, b: a["x"] < b["x"], itertools.pairwise(chart["bars"])))


def test_every_text_exists_in_english_and_russian() -> None:
    def keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
        out = set()
        for key, value in tree.items():
            out |= keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
        return out

    assert keys(texts("en")) == keys(texts("ru"))
    for kind in AlertKind:
        happened, to_do = alert_text("ru", kind, {"case_id": "OA-1"})
        assert happened and to_do and "{" not in happened + to_do


def test_the_table_folds_contract_types_and_the_monitor_reads_every_topic() -> None:
    """The topics derived from the table, with every dead-letter topic, are every
    service's: no topic the dashboard counts goes unread."""
    assert set(HANDLERS) <= set(EVENT_TYPES.values())
    expected = [t for s in SERVICES for t in (topic_of(s), dead_letter_topic_of(s))]
    assert sorted(source_topics()) == sorted(expected)


def test_an_event_the_table_lacks_is_counted_and_changes_nothing_else() -> None:
    views = fold([(str(i), e) for i, e in enumerate(story("OA-1", "R-1", 60))])
    before = summarise(views, NOW, WINDOW, url)
    unfolded = EXAMPLES["InquiryAnswered"]
    assert type(unfolded) not in HANDLERS
    assert views.apply("inquiry", unfolded)
    after = summarise(views, NOW, WINDOW, url)
    assert views.events_seen == 5
    assert after["version"] == before["version"] + 1
    assert {**after, "version": 0} == {**before, "version": 0}


def test_each_services_unreconciled_case_raises_its_own_alert() -> None:
    """The alert rule for CaseUnreconciled covers each service's subclass of it."""
    names = (
        "ReviewCaseUnreconciled",
        "EnforcementCaseUnreconciled",
        "NotifyCaseUnreconciled",
        "IntakeCaseUnreconciled",
    )
    for name in names:
        data = like(name, case_id="OA-U")
        [alert] = alerts_for_event("u1", data)
        assert alert.kind is AlertKind.CASE_UNRECONCILED
        assert alert.key.startswith(f"case-unreconciled:OA-U:{data.PRODUCER}:")
        assert alert.params["service"] == data.PRODUCER
        assert alert.source_event_id == "u1"

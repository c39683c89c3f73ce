"""Prometheus figures of the monitor, read from the views at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.monitor.domain.cases import HISTORY_HOURS
from services.monitor.domain.views import Views

QUANTILES = (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"))

METRIC_NAMES = (
    "monitor_open_cases",
    "monitor_submissions_total",
    "monitor_submissions_last_24h",
    "monitor_decisions_total",
    "monitor_submission_to_decision_seconds",
    "monitor_decision_to_enforcement_seconds",
    "monitor_deadlines",
    "monitor_enforcement_failures_total",
    "monitor_notification_failures_total",
    "monitor_dead_letters_parked",
    "monitor_dead_letters_total",
    "monitor_consumer_lag",
    "monitor_tampering_events_total",
    "monitor_alerts_raised_total",
    "monitor_events_total",
    "monitor_unreadable_records_total",
)


class Source(Protocol):
    """What the figures are read from (the tracker)."""

    views: Views
    unreadable: int


class MonitorCollector(Collector):
    def __init__(
        self, tracker: Source, clock: Callable[[], datetime], at_risk_window: timedelta
    ) -> None:
        self._tracker = tracker
        self._clock = clock
        self._window = at_risk_window

    def collect(self) -> Iterator[Metric]:
        views = self._tracker.views
        yield from _case_figures(views, self._clock(), self._window)
        yield from _failure_figures(views)
        yield from _other_figures(views, self._tracker.unreadable)


def _case_figures(views: Views, now: datetime, at_risk_window: timedelta) -> Iterator[Metric]:
    open_cases = GaugeMetricFamily(
        "monitor_open_cases",
        "Open cases by state and action type.",
        labels=["state", "action_type"],
    )
    for (state, action), n in sorted(views.open_cases().items()):
        open_cases.add_metric([state, action], n)
    yield open_cases
    yield CounterMetricFamily(
        "monitor_submissions",
        "Submissions received.",
        value=sum(views.submissions_per_hour.values()),
    )
    hourly = views.hourly(now)
    yield GaugeMetricFamily(
        "monitor_submissions_last_24h",
        f"Submissions received in the last {HISTORY_HOURS} hours.",
        value=sum(h[1] for h in hourly),
    )
    yield CounterMetricFamily(
        "monitor_decisions",
        "Decisions (approved or declined).",
        value=sum(views.decisions_per_hour.values()),
    )
    durations = views.durations()
    for name, doc in (
        ("submission_to_decision", "Seconds from submission to decision, by quantile."),
        ("decision_to_enforcement", "Seconds from approval to enforcement, by quantile."),
    ):
        family = GaugeMetricFamily(f"monitor_{name}_seconds", doc, labels=["quantile"])
        for quantile, key in QUANTILES:
            value = durations[name][key]
            if value is not None:
                family.add_metric([quantile], value)
        yield family
    deadlines = GaugeMetricFamily(
        "monitor_deadlines",
        "Cases awaiting a decision whose deadline is at risk or breached.",
        labels=["status"],
    )
    late = views.late(now, at_risk_window)
    for status in ("at-risk", "breached"):
        deadlines.add_metric([status], sum(1 for _, s in late if s == status))
    yield deadlines


def _failure_figures(views: Views) -> Iterator[Metric]:
    enforcement = CounterMetricFamily(
        "monitor_enforcement_failures", "Enforcement failures by wiki.", labels=["wiki"]
    )
    for wiki, n in sorted(views.enforcement_failures.items()):
        enforcement.add_metric([wiki], n)
    yield enforcement
    notification = CounterMetricFamily(
        "monitor_notification_failures",
        "Notification failures by audience/channel.",
        labels=["where"],
    )
    for where, n in sorted(views.notification_failures.items()):
        notification.add_metric([where], n)
    yield notification
    parked = GaugeMetricFamily(
        "monitor_dead_letters_parked",
        "Dead letters not yet replayed, by topic.",
        labels=["topic"],
    )
    total = CounterMetricFamily(
        "monitor_dead_letters", "Dead letters ever parked, by topic.", labels=["topic"]
    )
    now_parked = views.parked_now()
    for topic, n in sorted(views.parked_total().items()):
        parked.add_metric([topic], now_parked.get(topic, 0))
        total.add_metric([topic], n)
    yield parked
    yield total


def _other_figures(views: Views, unreadable: int) -> Iterator[Metric]:
    lag = GaugeMetricFamily(
        "monitor_consumer_lag",
        "Records not yet committed by a consumer group, by topic.",
        labels=["group", "topic"],
    )
    for group, topics in sorted(views.lag.items()):
        for topic, n in sorted(topics.items()):
            lag.add_metric([group, topic], n)
    yield lag
    yield CounterMetricFamily(
        "monitor_tampering_events",
        "Tampering with office actions detected.",
        value=len(views.tampering),
    )
    alerts = CounterMetricFamily(
        "monitor_alerts_raised", "Alerts raised, by kind.", labels=["kind"]
    )
    for kind, n in sorted(views.alerts_raised.items()):
        alerts.add_metric([kind], n)
    yield alerts
    yield CounterMetricFamily("monitor_events", "Distinct events read.", value=views.events_seen)
    yield CounterMetricFamily(
        "monitor_unreadable_records",
        "Records on service topics that could not be decoded.",
        value=unreadable,
    )

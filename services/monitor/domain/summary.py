"""What the dashboard, the JSON API and the metrics show, read from the views. Pure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.monitor.domain.cases import LIST_LIMIT, CaseView, DeadlineStatus
from services.monitor.domain.views import Views

CHART_WIDTH = 720
CHART_HEIGHT = 160


def summarise(
    views: Views, now: datetime, at_risk_window: timedelta, case_url: Callable[[str], str]
) -> dict[str, Any]:
    hourly = views.hourly(now)
    late = views.late(now, at_risk_window)
    return {
        "now": now.isoformat(timespec="seconds"),
        "version": views.version,
        "open_cases": [
            {"state": state, "action_type": action, "count": n}
            for (state, action), n in sorted(views.open_cases().items())
        ],
        "open_total": sum(views.open_cases().values()),
        "submissions_24h": sum(h[1] for h in hourly),
        "decisions_24h": sum(h[2] for h in hourly),
        "failures_24h": sum(h[3] for h in hourly),
        "hourly": [
            {"hour": h.isoformat(), "submissions": s, "decisions": d, "failures": f}
            for h, s, d, f in hourly
        ],
        "chart": chart(hourly),
        "durations": views.durations(),
        "late": _late_rows(late, case_url),
        "deadlines": {
            "at-risk": sum(1 for _, s in late if s == "at-risk"),
            "breached": sum(1 for _, s in late if s == "breached"),
        },
        "failed": _failure_rows(views, case_url),
        "enforcement_failures": dict(sorted(views.enforcement_failures.items())),
        "notification_failures": dict(sorted(views.notification_failures.items())),
        "dead_letters": {
            topic: {"parked": views.parked_now().get(topic, 0), "total": total}
            for topic, total in sorted(views.parked_total().items())
        },
        "lag": views.lag,
        "tampering": _tampering_rows(views, case_url),
        "alerts_raised": dict(sorted(views.alerts_raised.items())),
        "alerts": _alert_rows(views, case_url),
    }


def _late_rows(
    late: list[tuple[CaseView, DeadlineStatus]], case_url: Callable[[str], str]
) -> list[dict[str, Any]]:
    return [
        {
            "case_id": case.case_id,
            "action_type": case.action_type,
            "deadline_at": case.deadline_at.isoformat() if case.deadline_at else None,
            "status": str(status),
            "url": case_url(case.case_id),
        }
        for case, status in late[:LIST_LIMIT]
    ]


def _failure_rows(views: Views, case_url: Callable[[str], str]) -> list[dict[str, Any]]:
    return [
        {
            "case_id": f.case_id,
            "source": f.source,
            "where": f.where,
            "what": f.what,
            "permanent": f.permanent,
            "at": f.at.isoformat(timespec="seconds"),
            "url": case_url(f.case_id),
        }
        for f in views.latest_failures()
    ]


def _tampering_rows(views: Views, case_url: Callable[[str], str]) -> list[dict[str, Any]]:
    return [
        {
            "tampering_id": t.tampering_id,
            "case_id": t.case_id,
            "wiki": t.wiki,
            "what": t.what,
            "performer": t.performer,
            "at": t.at.isoformat(timespec="seconds"),
            "url": case_url(t.case_id),
        }
        for t in sorted(
            views.tampering.values(), key=lambda t: (t.at, t.tampering_id), reverse=True
        )
    ][:LIST_LIMIT]


def _alert_rows(views: Views, case_url: Callable[[str], str]) -> list[dict[str, Any]]:
    return [
        {
            "kind": a.kind,
            "case_id": a.case_id,
            "what_happened": a.what_happened,
            "what_to_do": a.what_to_do,
            "at": a.at.isoformat(timespec="seconds"),
            "url": case_url(a.case_id) if a.case_id else None,
        }
        for a in views.latest_alerts()
    ]


def chart(hourly: list[tuple[datetime, int, int, int]]) -> dict[str, Any]:
    """Bar geometry for an inline SVG: three bars per hour, scaled to the busiest hour."""
    top = max([1, *(max(s, d, f) for _, s, d, f in hourly)])
    slot = CHART_WIDTH / len(hourly)
    bar = slot / 4
    bars = []
    for i, (hour, *counts) in enumerate(hourly):
        for j, (series, n) in enumerate(
            zip(("submissions", "decisions", "failures"), counts, strict=True)
        ):
            height = round(n / top * (CHART_HEIGHT - 20), 1)
            bars.append(
                {
                    "series": series,
                    "x": round(i * slot + j * bar + bar / 2, 1),
                    "y": round(CHART_HEIGHT - 14 - height, 1),
                    "width": round(bar, 1),
                    "height": height,
                    "count": n,
                    "hour": hour.strftime("%H:00"),
                }
            )
    labels = [
        {"x": round(i * slot + slot / 2, 1), "text": h.strftime("%H")}
        for i, (h, *_) in enumerate(hourly)
        if i % 3 == 0
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "top": top,
        "bars": bars,
        "labels": labels,
    }

"""Which alerts a record or the clock raises. Pure: keys are deterministic, so each
problem has one key and the alert store lets each key through once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from casework.contract import (
    CaseUnreconciled,
    DeadlineAtRisk,
    DeadlineBreached,
    EnforcementFailed,
    EventData,
    NotificationFailed,
    TamperingDetected,
)
from casework.contract.monitor import AlertKind, AlertRaised
from casework.policy.notify import NotifyRules
from services.monitor.domain.cases import DeadlineStatus, ParkedLetter, Stall
from services.monitor.domain.views import Views
from services.monitor.policy import MonitorRules


@dataclass(frozen=True)
class Alert:
    key: str
    kind: AlertKind
    case_id: str | None
    params: dict[str, str] = field(default_factory=dict)
    source_event_id: str | None = None


# An event type's alert rule: (event id, its data) → the alerts it calls for.
AlertRule = Callable[[str, Any], list[Alert]]


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def deadline_alert(
    case_id: str, status: DeadlineStatus, action_type: str | None, deadline: datetime | None
) -> Alert:
    kind = (
        AlertKind.DEADLINE_BREACHED
        if status is DeadlineStatus.BREACHED
        else AlertKind.DEADLINE_AT_RISK
    )
    return Alert(
        key=f"{kind}:{case_id}",
        kind=kind,
        case_id=case_id,
        params={
            "action_type": action_type or "unknown",
            "deadline": _utc(deadline) if deadline else "unknown",
        },
    )


def _deadline(status: DeadlineStatus) -> AlertRule:
    def rule(event_id: str, data: DeadlineAtRisk | DeadlineBreached) -> list[Alert]:
        alert = deadline_alert(data.case_id, status, data.action_type, data.deadline_at)
        return [Alert(alert.key, alert.kind, alert.case_id, alert.params, event_id)]

    return rule


def _enforcement_failed(event_id: str, data: EnforcementFailed) -> list[Alert]:
    if not data.permanent:
        return []
    return [
        Alert(
            key=f"enforcement-failed:{data.case_id}:{data.wiki}:{data.kind}:{data.target}",
            kind=AlertKind.ENFORCEMENT_FAILED,
            case_id=data.case_id,
            params={
                "wiki": data.wiki,
                "operation": data.kind,
                "target": data.target,
                "error": f"{data.error_code}: {data.error_info}".rstrip("."),
                "attempts": str(data.attempt),
            },
            source_event_id=event_id,
        )
    ]


def _notification_failed(event_id: str, data: NotificationFailed) -> list[Alert]:
    if not data.permanent:
        return []
    return [
        Alert(
            key=f"notification-failed:{data.case_id}:{data.audience}:{data.channel}",
            kind=AlertKind.NOTIFICATION_FAILED,
            case_id=data.case_id,
            params={
                "audience": str(data.audience),
                "channel": data.channel,
                "reason": data.reason.rstrip("."),
            },
            source_event_id=event_id,
        )
    ]


def _case_unreconciled(event_id: str, data: CaseUnreconciled) -> list[Alert]:
    # One per case, downstream service and upstream event: a later event of the same
    # case that also cannot be finished is a new problem.
    return [
        Alert(
            key=(
                f"case-unreconciled:{data.case_id}:{data.PRODUCER}:"
                f"{data.upstream_event_id or data.upstream_event_type or 'none'}"
            ),
            kind=AlertKind.CASE_UNRECONCILED,
            case_id=data.case_id,
            params={
                "service": data.PRODUCER,
                "upstream": data.upstream,
                "event_type": data.upstream_event_type or "none",
                "reason": data.reason.rstrip("."),
            },
            source_event_id=event_id,
        )
    ]


def _tampering_detected(event_id: str, data: TamperingDetected) -> list[Alert]:
    return [
        Alert(
            key=f"tampering-detected:{data.tampering_id}",
            kind=AlertKind.TAMPERING_DETECTED,
            case_id=data.case_id,
            params={
                "wiki": data.wiki,
                "performer": data.performer,
                "action": f"{data.log_type}/{data.log_action}",
                "target": data.target,
                "log_id": str(data.log_id),
            },
            source_event_id=event_id,
        )
    ]


# The alerts each event type calls for, by rule. CaseUnreconciled stands for each
# service's own subclass of it (looked up along the event class's bases).
EVENT_ALERTS: Mapping[type[EventData], AlertRule] = {
    DeadlineAtRisk: _deadline(DeadlineStatus.AT_RISK),
    DeadlineBreached: _deadline(DeadlineStatus.BREACHED),
    EnforcementFailed: _enforcement_failed,
    NotificationFailed: _notification_failed,
    CaseUnreconciled: _case_unreconciled,
    TamperingDetected: _tampering_detected,
}


def alerts_for_event(event_id: str, data: EventData) -> list[Alert]:
    for kind in type(data).__mro__:
        rule = EVENT_ALERTS.get(kind)
        if rule is not None:
            return rule(event_id, data)
    return []


def alert_for_letter(letter: ParkedLetter) -> Alert | None:
    """None for a parked alert: alerting on it could make a loop (alert, fail, park, alert)."""
    if letter.event_type == AlertRaised.TYPE:
        return None
    # EventRefused: someone published in review's name without its signature or a complete
    # chain (a forgery, a replay or a broken key rotation): never replay it blindly.
    kind = (
        AlertKind.UNTRUSTED_EVENT
        if letter.error_type == "EventRefused"
        else AlertKind.DEAD_LETTERED
    )
    return Alert(
        key=f"{kind}:{letter.dead_letter_topic}:{letter.partition}:{letter.offset}",
        kind=kind,
        case_id=letter.case_id,
        params={
            "topic": letter.dead_letter_topic,
            "source_topic": letter.source_topic,
            "event_type": letter.event_type or "undecodable",
            "error": letter.error.rstrip("."),
            "place": f"{letter.partition}:{letter.offset}",
        },
        source_event_id=letter.event_id,
    )


def clock_alerts(views: Views, now: datetime, at_risk_window: timedelta) -> list[Alert]:
    """Deadlines the monitor's own clock finds at risk or breached (CaseOpened.deadline_at)."""
    return [
        deadline_alert(case.case_id, status, case.action_type, case.deadline_at)
        for case, status in views.late(now, at_risk_window)
    ]


STALL_KINDS = {
    Stall.NOT_ENFORCED: AlertKind.APPROVED_NOT_ENFORCED,
    Stall.NOT_TOLD: AlertKind.ENFORCED_NOT_TOLD,
}


@dataclass(frozen=True)
class StallRules:
    """The policy's `monitor:` limits, and notify's rules of who is told what (a case with
    nobody to tell is never stuck untold)."""

    limits: MonitorRules
    notify: NotifyRules


def stall_alerts(views: Views, now: datetime, rules: StallRules) -> list[Alert]:
    """Cases the monitor's clock finds stuck between services past the policy's `monitor:`
    limits, one key per case and kind. The parameters are the case's action type and times
    only, never a page, an account or a failure text: nothing a confidential case withholds."""
    alerts = []
    for case, stall, since, limit in views.stalled(now, rules.limits, rules.notify):
        kind = STALL_KINDS[stall]
        alerts.append(
            Alert(
                key=f"{kind}:{case.case_id}",
                kind=kind,
                case_id=case.case_id,
                params={
                    "action_type": case.action_type,
                    "since": _utc(since),
                    "minutes": f"{limit.total_seconds() / 60:g}",
                },
            )
        )
    return alerts

"""The monitor's table: each event type it folds into its views, and how (``HANDLERS``).

The monitor consumes through faust (``entrypoints/streams.py``), not the kernel's
dispatcher, so a handler here is a fold ``(views, data)``: pure, synchronous, no I/O. The
topics it reads are derived from this table's keys (``app.source_topics``). An event type
the table lacks is still counted as read and changes nothing else.
"""

from __future__ import annotations

from casework.contract import (
    ActionEnforced,
    ActionExpired,
    ActionReversed,
    CaseOpened,
    DeadlineAtRisk,
    DeadlineBreached,
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    EnforcementFailed,
    NotificationFailed,
    NotificationSent,
    SubmissionReceived,
    TamperingDetected,
)
from casework.contract.monitor import AlertRaised, DeadLetterReplayed
from services.monitor.domain.cases import (
    TOLD_OF_ENFORCEMENT,
    UNKNOWN_ACTION,
    CaseState,
    DeadlineStatus,
    Failure,
    RaisedAlert,
    Tampering,
    hour_of,
)
from services.monitor.domain.views import Fold, Folds, Views


def submission_received(views: Views, data: SubmissionReceived) -> None:
    views.submissions[data.submission_id] = data.received_at
    views.submissions_per_hour[hour_of(data.received_at)] += 1


def case_opened(views: Views, data: CaseOpened) -> None:
    case = views.case(data.case_id)
    if not case.action_from_decision:
        case.action_type = data.action_type or UNKNOWN_ACTION
    case.submission_id = data.submission_id
    case.deadline_at = data.deadline_at


def decision_approved(views: Views, data: DecisionApproved) -> None:
    case = views.case(data.case_id)
    case.note_decision(data.decision)
    case.move_to(CaseState.APPROVED)
    case.approved_at = data.approved_at
    views.note_decided(case, data.approved_at)


def decision_declined(views: Views, data: DecisionDeclined) -> None:
    case = views.case(data.case_id)
    case.move_to(CaseState.DECLINED)
    views.note_decided(case, data.declined_at)


def action_enforced(views: Views, data: ActionEnforced) -> None:
    case = views.case(data.case_id)
    case.note_decision(data.decision)
    case.move_to(CaseState.ENFORCED)
    case.enforced_at = case.enforced_at or data.enforced_at


def reversed_(views: Views, data: DecisionReversed | ActionReversed) -> None:
    views.case(data.case_id).move_to(CaseState.REVERSED)


def action_expired(views: Views, data: ActionExpired) -> None:
    views.case(data.case_id).move_to(CaseState.EXPIRED)


def deadline_reported(status: DeadlineStatus) -> Fold:
    """Review's word on a deadline: a breach is never taken back by a later at-risk."""

    def fold(views: Views, data: DeadlineAtRisk | DeadlineBreached) -> None:
        case = views.case(data.case_id)
        case.deadline_at = case.deadline_at or data.deadline_at
        if case.reported is not DeadlineStatus.BREACHED:
            case.reported = status

    return fold


def enforcement_failed(views: Views, data: EnforcementFailed) -> None:
    if data.permanent:
        views.failed_for_good.add(data.case_id)
    views.enforcement_failures[data.wiki] += 1
    views.failures_per_hour[hour_of(data.failed_at)] += 1
    what = f"{data.kind} {data.target}: {data.error_code} {data.error_info}".strip()
    views.note_failure(
        Failure(data.case_id, "enforcement", data.wiki, what, data.permanent, data.failed_at)
    )


def notification_sent(views: Views, data: NotificationSent) -> None:
    if data.audience in TOLD_OF_ENFORCEMENT:
        views.note_told(data.case_id, data.sent_at)


def notification_failed(views: Views, data: NotificationFailed) -> None:
    if data.permanent and data.audience in TOLD_OF_ENFORCEMENT:
        views.note_told(data.case_id, data.failed_at)
    where = f"{data.audience}/{data.channel}"
    views.notification_failures[where] += 1
    views.failures_per_hour[hour_of(data.failed_at)] += 1
    views.note_failure(
        Failure(data.case_id, "notify", where, data.reason, data.permanent, data.failed_at)
    )


def tampering_detected(views: Views, data: TamperingDetected) -> None:
    views.tampering[data.tampering_id] = Tampering(
        data.tampering_id,
        data.case_id,
        data.wiki,
        f"{data.log_type}/{data.log_action} {data.target}",
        data.performer,
        data.detected_at,
    )


def alert_raised(views: Views, data: AlertRaised) -> None:
    if data.alert_key in views.alerts:
        return
    views.alerts_raised[data.kind] += 1
    views.alerts[data.alert_key] = RaisedAlert(
        data.alert_key,
        str(data.kind),
        data.case_id,
        data.what_happened,
        data.what_to_do,
        data.raised_at,
    )


def dead_letter_replayed(views: Views, data: DeadLetterReplayed) -> None:
    views.replayed.add((data.dead_letter_topic, data.partition, data.offset))


HANDLERS: Folds = {
    SubmissionReceived: submission_received,
    CaseOpened: case_opened,
    DecisionApproved: decision_approved,
    DecisionDeclined: decision_declined,
    ActionEnforced: action_enforced,
    DecisionReversed: reversed_,
    ActionReversed: reversed_,
    ActionExpired: action_expired,
    DeadlineAtRisk: deadline_reported(DeadlineStatus.AT_RISK),
    DeadlineBreached: deadline_reported(DeadlineStatus.BREACHED),
    EnforcementFailed: enforcement_failed,
    NotificationSent: notification_sent,
    NotificationFailed: notification_failed,
    TamperingDetected: tampering_detected,
    AlertRaised: alert_raised,
    DeadLetterReplayed: dead_letter_replayed,
}

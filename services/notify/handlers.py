"""Each event notify consumes, and the use case that reacts to it: one case at a time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from casework.cloudevents import CloudEvent
from casework.contract import (
    ActionEnforced,
    AlertRaised,
    CaseOpened,
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    DuplicateMerged,
    InquiryAnswered,
    SubmissionIncomplete,
    SubmissionReceived,
)
from casework.dispatch import EventHandler, Handlers
from services.notify.usecases import Notify


def _one_case_at_a_time(react: Callable[[Notify, Any], Awaitable[None]]) -> EventHandler[Notify]:
    async def handler(notify: Notify, data: Any, event: CloudEvent) -> None:
        async with notify.subjects.hold(event.subject):
            await react(notify, data)

    return handler


HANDLERS: Handlers[Notify] = {
    SubmissionReceived: _one_case_at_a_time(lambda n, d: n.requesters.submission_received(d)),
    SubmissionIncomplete: _one_case_at_a_time(lambda n, d: n.requesters.submission_incomplete(d)),
    CaseOpened: _one_case_at_a_time(lambda n, d: n.requesters.case_opened(d)),
    DecisionApproved: _one_case_at_a_time(lambda n, d: n.decisions.decision_approved(d)),
    DecisionDeclined: _one_case_at_a_time(lambda n, d: n.requesters.decision_declined(d)),
    DecisionReversed: _one_case_at_a_time(lambda n, d: n.decisions.decision_reversed(d)),
    InquiryAnswered: _one_case_at_a_time(lambda n, d: n.requesters.inquiry_answered(d)),
    DuplicateMerged: _one_case_at_a_time(lambda n, d: n.requesters.duplicate_merged(d)),
    ActionEnforced: _one_case_at_a_time(lambda n, d: n.enforcement.action_enforced(d)),
    AlertRaised: _one_case_at_a_time(lambda n, d: n.ops_alerts.alert_raised(d)),
}

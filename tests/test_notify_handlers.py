"""Notify's HANDLERS, fast (no broker, store, wiki or SMTP; the real-component tests in
test_notify_delivery.py remain the proof of what is sent): each consumed type reaches its
concern's use case, and the events of one case are handled one at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

from casework.cloudevents import CloudEvent
from casework.contract import (
    ActionEnforced,
    AlertRaised,
    CaseOpened,
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    DuplicateMerged,
    EventData,
    InquiryAnswered,
    SubmissionIncomplete,
    SubmissionReceived,
)
from casework.dispatch import consumed_topics, dispatcher
from services.notify.handlers import HANDLERS
from services.notify.usecases import Notify

ROUTES: dict[type[EventData], tuple[str, str]] = {
    SubmissionReceived: ("requesters", "submission_received"),
    SubmissionIncomplete: ("requesters", "submission_incomplete"),
    CaseOpened: ("requesters", "case_opened"),
    DecisionDeclined: ("requesters", "decision_declined"),
    InquiryAnswered: ("requesters", "inquiry_answered"),
    DuplicateMerged: ("requesters", "duplicate_merged"),
    DecisionApproved: ("decisions", "decision_approved"),
    DecisionReversed: ("decisions", "decision_reversed"),
    ActionEnforced: ("enforcement", "action_enforced"),
    AlertRaised: ("ops_alerts", "alert_raised"),
}


class Concern:
    """A stand-in use case: each call is logged, marks its data started, and waits for ``go``."""

    def __init__(self, name: str, log: list[tuple[str, ...]], go: asyncio.Event) -> None:
        self.name, self.log, self.go = name, log, go
        self.started: dict[str, asyncio.Event] = {}

    def __getattr__(self, method: str) -> Callable[[str], Awaitable[None]]:
        async def call(data: str) -> None:
            self.log.append(("start", self.name, method, data))
            self.started.setdefault(data, asyncio.Event()).set()
            await self.go.wait()
            self.log.append(("end", self.name, method, data))

        return call


def stand_in(go: asyncio.Event) -> tuple[Notify, list[tuple[str, ...]], dict[str, Concern]]:
    log: list[tuple[str, ...]] = []
    concerns = {
        name: Concern(name, log, go)
        for name in ("requesters", "decisions", "enforcement", "ops_alerts")
    }
    notify = Notify(
        sender=cast(Any, None),
        records=cast(Any, None),
        **cast(dict[str, Any], concerns),
    )
    return notify, log, concerns


def event(event_type: type[EventData], subject: str) -> CloudEvent:
    return CloudEvent(type=event_type.TYPE, source="test", subject=subject, data={})


def admit_as_subject(event: CloudEvent) -> EventData:
    """The event's data, here just its subject (the stand-ins read nothing else)."""
    return cast(EventData, event.subject)


async def test_each_consumed_type_reaches_its_concerns_use_case() -> None:
    go = asyncio.Event()
    go.set()
    notify, log, _ = stand_in(go)
    handle = dispatcher(HANDLERS, notify, admit_as_subject)
    assert set(HANDLERS) == set(ROUTES)
    for event_type, (concern, method) in ROUTES.items():
        await handle(event(event_type, f"OA-{event_type.__name__}"))
        assert log[-1] == ("end", concern, method, f"OA-{event_type.__name__}")
    assert len(log) == 2 * len(ROUTES)
    assert consumed_topics(HANDLERS) == [
        "officeactions.enforcement",
        "officeactions.intake",
        "officeactions.monitor",
        "officeactions.review",
    ]


async def test_one_event_of_a_case_at_a_time_and_cases_side_by_side() -> None:
    go = asyncio.Event()
    notify, log, concerns = stand_in(go)
    handle = dispatcher(HANDLERS, notify, admit_as_subject)

    async def handled(event_type: type[EventData], subject: str) -> None:
        await handle(event(event_type, subject))

    first = asyncio.create_task(handled(DecisionApproved, "OA-1"))
    second = asyncio.create_task(handled(ActionEnforced, "OA-1"))
    other = asyncio.create_task(handled(ActionEnforced, "OA-2"))
    # Tasks start in order: once the other case's event runs, the second has reached its wait.
    await asyncio.wait_for(
        concerns["enforcement"].started.setdefault("OA-2", asyncio.Event()).wait(), 5
    )
    assert ("start", "decisions", "decision_approved", "OA-1") in log
    assert ("start", "enforcement", "action_enforced", "OA-1") not in log
    go.set()
    await asyncio.wait_for(asyncio.gather(first, second, other), 5)
    one = [entry for entry in log if entry[3] == "OA-1"]
    assert one == [
        ("start", "decisions", "decision_approved", "OA-1"),
        ("end", "decisions", "decision_approved", "OA-1"),
        ("start", "enforcement", "action_enforced", "OA-1"),
        ("end", "enforcement", "action_enforced", "OA-1"),
    ]

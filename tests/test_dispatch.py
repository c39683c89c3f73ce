"""casework.dispatch: a service's HANDLERS table, the topics it implies, and dispatch."""

from __future__ import annotations

from typing import Any

import pytest

from casework.cloudevents import CloudEvent
from casework.contract import (
    AlertRaised,
    CaseOpened,
    EventData,
    SubmissionReceived,
    from_cloudevent,
    topic_of,
)
from casework.dispatch import Handlers, consumed_topics, dispatcher


class Service:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []


async def _opened(service: Service, data: CaseOpened, event: CloudEvent) -> None:
    service.seen.append(("opened", event.id))


TABLE: Handlers[Service] = {CaseOpened: _opened}


def test_topics_come_from_the_tables_event_types() -> None:
    table: dict[type[EventData], Any] = {
        SubmissionReceived: _opened,
        CaseOpened: _opened,
        AlertRaised: _opened,
    }
    assert consumed_topics(table) == sorted(
        {topic_of("intake"), topic_of("review"), topic_of("monitor")}
    )
    assert consumed_topics({}) == []


def _event(type_: str, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent(type=type_, source="/test", subject="c", data=data)


async def test_a_handled_type_reaches_its_handler_and_others_are_ignored() -> None:
    service = Service()
    admitted: list[str] = []

    def admit(event: CloudEvent) -> EventData | None:
        admitted.append(event.type)
        return object() if event.type == CaseOpened.TYPE else None  # type: ignore[return-value]

    handle = dispatcher(TABLE, service, admit)
    opened = _event(CaseOpened.TYPE, {})
    await handle(opened)
    await handle(_event("org.example.unknown.v1", {}))
    assert service.seen == [("opened", opened.id)]
    # Every event is admitted, handled or not: a forged signed event is refused either way.
    assert admitted == [CaseOpened.TYPE, "org.example.unknown.v1"]


async def test_admission_errors_propagate_to_the_consumer() -> None:
    def admit(event: CloudEvent) -> EventData | None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await dispatcher(TABLE, Service(), admit)(_event(CaseOpened.TYPE, {}))


async def test_the_default_admission_decodes_the_contract() -> None:
    from pydantic import ValidationError

    handle = dispatcher(TABLE, Service())
    with pytest.raises(ValidationError):
        await handle(_event(CaseOpened.TYPE, {"case_id": 1}))
    assert from_cloudevent(_event("org.example.unknown.v1", {})) is None

"""One table per service says which events it reacts to and how: ``HANDLERS``.

A service's ``handlers.py`` holds only its table, mapping each contract event class to a
handler ``async (service, data, event)``; the service object (its use cases) is bound in
``app.py``. The topics a service consumes are derived from the table's keys (each event
class names its producer), so a handler added is a topic consumed, and a topic is never
consumed for nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from casework.cloudevents import CloudEvent
from casework.contract import EventData, from_cloudevent, topic_for

S = TypeVar("S")

EventHandler = Callable[[S, Any, CloudEvent], Awaitable[None]]
Handlers = Mapping[type[EventData], EventHandler[S]]
Admit = Callable[[CloudEvent], EventData | None]


def consumed_topics(handlers: Mapping[type[EventData], object]) -> list[str]:
    """The topics carrying the table's event types, each once, in a stable order."""
    return sorted({topic_for(event_type) for event_type in handlers})


def dispatcher(
    handlers: Handlers[S], service: S, admit: Admit = from_cloudevent
) -> Callable[[CloudEvent], Awaitable[None]]:
    """``handle(event)``: admit it (decode, and for signed types verify; raises to
    dead-letter), then call its type's handler. Types the table lacks are ignored: a topic
    carries other services' events too, and readers are tolerant of new types."""
    by_type = {event_type.TYPE: handler for event_type, handler in handlers.items()}

    async def handle(event: CloudEvent) -> None:
        handler = by_type.get(event.type)
        data = admit(event)
        if handler is None or data is None:
            return
        await handler(service, data, event)

    return handle

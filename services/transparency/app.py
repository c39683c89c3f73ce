"""The portal's wiring: the one place its parts are put together.

It consumes the public-level topic alone (``consumed_topics(HANDLERS)`` is exactly
``officeactions.public``), admits only the public types (anything else there is refused to
its dead-letter topic), keeps them in its own store, and serves read-only pages, a JSON
API, CSV and an Atom feed: no route accepts a write.
"""

from __future__ import annotations

import logging

from aiokafka.errors import KafkaError

from casework.cloudevents import CloudEvent
from casework.contract import PUBLIC_TOPIC, EventData, from_cloudevent
from casework.dispatch import consumed_topics, dispatcher
from casework.http import make_app
from casework.kafka.dead_letters import PermanentError
from casework.runtime import Kit, Wiring
from casework.trust import SIGNED_TYPES
from services.transparency.adapters.rewind import rewind_group
from services.transparency.adapters.store import PortalStore
from services.transparency.entrypoints.routes import Portal
from services.transparency.handlers import HANDLERS
from services.transparency.settings import TransparencySettings

log = logging.getLogger(__name__)
GROUP_ID = "casework-transparency"  # casework.runtime's group of this service
HANDLED = frozenset(event_type.TYPE for event_type in HANDLERS)
assert consumed_topics(HANDLERS) == [PUBLIC_TOPIC], "the portal reads the public topic alone"
assert not HANDLED & SIGNED_TYPES, "the portal holds no review key: it may handle no signed type"


def admit_public(event: CloudEvent) -> EventData | None:
    """The data of a public-level event; any other type on the public topic is refused to
    the dead-letter topic (it has no business there), and invalid data too."""
    if event.type not in HANDLED:
        raise PermanentError(f"{event.type!r} is not a public-level event type")
    return from_cloudevent(event)


async def wire(kit: Kit) -> Wiring:
    settings = kit.settings
    assert isinstance(settings, TransparencySettings)
    portal = PortalStore(kit.store)
    if await portal.is_empty():
        # A new or wiped store: the topic is read again from its start (adapters.rewind).
        try:
            await rewind_group(settings.kafka(), GROUP_ID, PUBLIC_TOPIC)
        except KafkaError as exc:
            # Another instance is reading (the group is active): it fills the store.
            log.warning("public topic not rewound for an empty store: %r", exc)
    await portal.prepare()
    app = make_app(registry=kit.registry, health_checks=kit.health_checks)
    Portal(portal, settings).register(app)
    return Wiring(
        app=app,
        consumes=consumed_topics(HANDLERS),
        handle=dispatcher(HANDLERS, portal, admit_public),
    )

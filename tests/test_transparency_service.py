"""The portal as `python -m services.transparency` runs it (casework.runtime.serve, SQLite,
its consumer in group casework-transparency) on a Tansu broker of this module's own: public
events published on officeactions.public come out as pages; an event that is not a
public-level one, or is invalid, goes to officeactions.transparency.dlq and the consumer
keeps going; a wiped store is rebuilt by reading the topic again from its start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from casework.cloudevents import CloudEvent
from casework.contract import (
    PUBLIC_TOPIC,
    StatementPublished,
    dead_letter_topic_of,
    to_cloudevent,
)
from casework.dispatch import consumed_topics
from casework.kafka import EventPublisher
from deploy.broker import TansuBroker
from deploy.credentials import BusCredentials
from services.transparency.app import wire
from services.transparency.handlers import HANDLERS
from services.transparency.settings import TransparencySettings
from tests.support import eventually, free_port, serving, topic_events
from tests.test_transparency_domain import CASE, REFUSED_WHERE, history, inquiry_answer, statement

DLQ = dead_letter_topic_of("transparency")


@pytest.fixture(scope="module")
def kafka_broker() -> Iterator[TansuBroker]:
    """A broker of this module's own (a group that has seen other modules' members can keep
    a departed leader on Tansu; see test_intake_progress)."""
    broker = TansuBroker(free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def settings_for(data_dir: Path, broker: TansuBroker) -> TransparencySettings:
    bus: dict[str, Any] = BusCredentials.default().service_environment("transparency")
    return TransparencySettings(
        data_dir=data_dir,
        port=free_port(),
        kafka_bootstrap=broker.bootstrap,
        kafka_session_timeout_ms=1500,
        **bus,
    )


def running_portal(settings: TransparencySettings) -> AbstractAsyncContextManager[str]:
    """The portal service in this event loop; its base URL while it runs."""
    return serving(settings, wire, settings.port)


async def fetch(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as reply:
        return reply.status, await reply.text()


async def shown(url: str, *needles: str) -> str | None:
    status, body = await fetch(url)
    return body if status == 200 and all(n in body for n in needles) else None


def wipe(directory: Path) -> int:
    """Delete the portal's SQLite store (and its journal files); how many files."""
    found = list(directory.glob("transparency.sqlite3*"))
    for path in found:
        path.unlink()
    return len(found)


def test_the_portal_consumes_the_public_topic_alone() -> None:
    assert consumed_topics(HANDLERS) == [PUBLIC_TOPIC]


async def publish(publisher: EventPublisher, events: list[Any]) -> None:
    for event in events:
        await publisher.publish(PUBLIC_TOPIC, to_cloudevent(event))


async def test_events_in_pages_out_and_a_bad_event_is_dead_lettered(
    kafka_broker: TansuBroker, publisher: EventPublisher, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, kafka_broker)
    async with running_portal(settings) as url:
        await publish(publisher, history())
        page = await eventually(
            lambda: shown(f"{url}/actions/{CASE}", "IQ-BBBBBBBBBBBB", "dsa-2", "Reversed"),
            what="the action page with its inquiries, DSA statement and reversal",
        )
        assert REFUSED_WHERE in page
        # Not a public-level type (it has no business on this topic), then invalid data of
        # a public type: both dead-lettered; the next good event is still taken in.
        stray = CloudEvent(
            type="officeactions.notify.notification-sent.v1",
            source="/officeactions/notify",
            subject=CASE,
            data={"case_id": CASE, "reference": "private@example.org"},
        )
        broken = CloudEvent(
            type=StatementPublished.TYPE,
            source="/officeactions/notify",
            subject="OA-XXXXXXXXXXXX",
            data={"case_id": "OA-XXXXXXXXXXXX", "revision": 0},
        )
        await publisher.publish(PUBLIC_TOPIC, stray)
        await publisher.publish(PUBLIC_TOPIC, broken)
        late = inquiry_answer("IQ-DDDDDDDDDDDD", asker="Named Asker")
        await publish(publisher, [late])
        await eventually(
            lambda: shown(f"{url}/inquiries/IQ-DDDDDDDDDDDD", "Named Asker"),
            what="the inquiry published after the bad events",
        )

        async def dead_lettered() -> set[str] | None:
            ids = {e.id for e in await topic_events(kafka_broker.bootstrap, DLQ)}
            return ids if {stray.id, broken.id} <= ids else None

        await eventually(dead_lettered, what="both bad events on the dead-letter topic")
        status, body = await fetch(f"{url}/api/v1/actions/OA-XXXXXXXXXXXX")
        assert status == 404
        status, body = await fetch(f"{url}/api/v1/actions/{CASE}")
        assert "private@example.org" not in body


async def test_a_wiped_store_is_rebuilt_from_the_topic(
    kafka_broker: TansuBroker, publisher: EventPublisher, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, kafka_broker)
    extra = statement("OA-RRRRRRRRRRRR", action_type="rebuild-test")
    async with running_portal(settings) as url:
        await publish(publisher, [extra])
        # Everything on the topic so far (this module's earlier test published the rest).
        await eventually(
            lambda: shown(f"{url}/?type=rebuild-test", "OA-RRRRRRRRRRRR"), what="the action"
        )
        await eventually(
            lambda: shown(f"{url}/actions/{CASE}", "IQ-BBBBBBBBBBBB", "dsa-2", "Reversed"),
            what="the earlier test's action, read from the topic's start into a new store",
        )
        await eventually(lambda: shown(f"{url}/inquiries/IQ-DDDDDDDDDDDD", "Named Asker"))
        _, before = await fetch(f"{url}/api/v1/reports/2026?quarter=4")
    assert json.loads(before)["actions"] == 3  # the history's two and this one
    assert wipe(tmp_path) >= 1
    async with running_portal(settings) as url:

        async def rebuilt() -> str | None:
            status, body = await fetch(f"{url}/api/v1/reports/2026?quarter=4")
            return body if status == 200 and body == before else None

        await eventually(rebuilt, what="the same report from the rebuilt store", timeout=60)
        assert await shown(f"{url}/?type=rebuild-test", "OA-RRRRRRRRRRRR")
        assert await shown(f"{url}/actions/{CASE}", "Reversed")

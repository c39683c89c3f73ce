"""Small helpers shared by the tests: free ports and waiting on conditions with deadlines."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import NoReturn, TypeVar

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiosmtpd.controller import Controller

from casework.cloudevents import CloudEvent, from_kafka
from casework.config import ServiceSettings
from casework.kafka import EventConsumer
from casework.runtime import Wire
from deploy.credentials import bus_settings
from deploy.stack import Ports

T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def missing_part(component: str) -> NoReturn:
    """Skip a test whose part is not on this machine, naming it. Under `make test`
    (CASEWORK_REQUIRE_PARTS=1), which installs every part it can, fail instead: CI must not
    skip what it can run."""
    if os.environ.get("CASEWORK_REQUIRE_PARTS") == "1":
        pytest.fail(f"{component}; `make test` needs it (see deploy/install-debian.sh)")
    pytest.skip(component)


def free_ports(*, wiki: int | None = None) -> Ports:
    """A free port for every part of a stack (the wiki's given when it already runs)."""
    return Ports(
        intake=free_port(),
        review=free_port(),
        enforcement=free_port(),
        notify=free_port(),
        monitor=free_port(),
        transparency=free_port(),
        intake_mail=free_port(),
        wiki=free_port() if wiki is None else wiki,
        broker=free_port(),
        smtp=free_port(),
    )


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 30.0,
    what: str = "condition",
    interval: float = 0.05,
) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)  # wait-ok: the poll interval of a deadline wait


async def holds(condition: bool) -> bool:
    """A condition already computed, as a probe: ``eventually(lambda: holds(len(seen) == 3))``."""
    return condition


async def topic_events(bootstrap: str, topic: str) -> list[CloudEvent]:
    """Every event on ``topic`` so far, read from the start without a consumer group.

    Tansu under-reports end offsets (the newest batch's base + 1, DESIGN.md), so after
    reaching them this keeps fetching until a fetch comes back empty.
    """
    # "earliest" also for the reset that assign() starts: with the default ("latest") it can
    # land after seek_to_beginning() and leave the position at the end.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **bus_settings(bootstrap).client_options(),
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return []
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        events: list[CloudEvent] = []
        # Counted from the records returned, not position(): that can run ahead of them.
        reached = {tp: 0 for tp in partitions}
        async with asyncio.timeout(20):
            while True:
                batch = await consumer.getmany(*partitions, timeout_ms=300)
                for tp, records in batch.items():
                    events.extend(from_kafka(r.key, r.value, r.headers) for r in records)
                    reached[tp] = records[-1].offset + 1
                if not batch and all(reached[tp] >= ends[tp] for tp in partitions):
                    return events
    finally:
        await consumer.stop()


async def commit_at_start(bootstrap: str, group: str, topic: str, partitions: int = 4) -> None:
    """Make ``group`` a consumer group that has committed offset 0 on every partition of
    ``topic``: a group that lags by everything on the topic."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=1500,
        heartbeat_interval_ms=500,
        **bus_settings(bootstrap).client_options(),
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.commit(dict.fromkeys(assigned, 0))
    finally:
        await consumer.stop()


@asynccontextmanager
async def serving(settings: ServiceSettings, wire: Wire, port: int) -> AsyncIterator[str]:
    """A service as `python -m services.<name>` runs it, in this event loop; its base URL
    once it answers /healthz. Stopped (and its task awaited) on leaving."""
    from casework.runtime import serve

    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, wire, stop))
    url = f"http://127.0.0.1:{port}"

    async def healthy() -> bool:
        if task.done():
            task.result()
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as reply:
                return reply.status == 200
        except aiohttp.ClientError:
            return False

    await eventually(healthy, what=f"{settings.SERVICE} to answer /healthz")
    try:
        yield url
    finally:
        stop.set()
        await task


@asynccontextmanager
async def running(consumer: EventConsumer) -> AsyncIterator[asyncio.Task[None]]:
    """``consumer`` running in a task; stopped (and its task awaited) on leaving."""
    task = asyncio.create_task(consumer.run())
    try:
        yield task
    finally:
        await consumer.stop(timeout=5)
        with suppress(asyncio.CancelledError):
            await task


@contextmanager
def smtp_server(handler: object) -> Iterator[int]:
    """A real SMTP server (aiosmtpd, its own thread) with ``handler``'s ``handle_*`` hooks,
    on a free loopback port: yields the port."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()

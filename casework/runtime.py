"""How a service runs: open its store and broker connections, wire it, serve, stop cleanly.

Each service's ``__main__`` calls :func:`main` with its settings class and a
``wire`` function (its one place of wiring). Start-up order: policy, store,
publisher, topics, outbox relay (its first pass is the start-up
reconciliation) with the bus watch (``casework.kafka.watch``: a bus that lost what was
published gets the outbox history again), the service's own duties, HTTP, consumer.
The ``broker`` health check fails while the consumer is stalled. SIGINT/SIGTERM
stop in reverse order: the record being handled finishes and is committed.

Several instances of a service may share its store and consumer group. Duties
that must run once (the outbox relay and each of ``Wiring.once``) run under a
lease in the store (casework.leases), so one instance at a time does them and
another takes over when it dies. Work on a case belongs to the instance whose
consumer holds the case's partition (``Kit.ownership``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from casework import heap
from casework.claims import Claimant
from casework.cloudevents import CloudEvent
from casework.config import ConfigError, ServiceSettings, load_settings
from casework.contract import (
    PUBLIC_TOPIC,
    READ_MODELS,
    SERVICES,
    dead_letter_topic_of,
    topic_of,
)
from casework.http import HealthCheck
from casework.kafka import EventConsumer, EventPublisher, KafkaSettings, ensure_topics
from casework.kafka.ownership import Ownership
from casework.kafka.watch import BusWatch
from casework.leases import Lease, run_while_holding
from casework.outbox import OutboxRelay
from casework.parked import OutboxParking, is_unpublishable
from casework.policy import Policy, PolicyError, load_policy
from casework.store import DocumentStore, open_store

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent], Awaitable[None]]
Duty = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Kit:
    """What the runtime opened for a service; ``wire`` builds the service from it."""

    settings: ServiceSettings
    policy: Policy
    store: DocumentStore
    publisher: EventPublisher
    relay: OutboxRelay
    registry: CollectorRegistry
    health_checks: dict[str, HealthCheck]
    ownership: Ownership = field(default_factory=Ownership)

    @property
    def claimant(self) -> Claimant:
        """This instance as it claims effects that must not be done twice (casework.claims)."""
        return Claimant(self.settings.instance_id, self.settings.lease_seconds)


@dataclass
class Wiring:
    """What ``wire`` returns: the HTTP app, what it consumes, and its own duties.

    ``duties`` run on every instance (listeners, work on owned cases); each of ``once``
    (by name) runs on one instance at a time, under the lease ``duty:<name>``.
    """

    app: web.Application
    consumes: list[str] = field(default_factory=list)
    handle: Handler | None = None
    duties: list[Duty] = field(default_factory=list)
    once: dict[str, Duty] = field(default_factory=dict)
    on_stop: list[Duty] = field(default_factory=list)


Wire = Callable[[Kit], Awaitable[Wiring]]


def all_topics() -> list[str]:
    return [
        *(t for s in SERVICES for t in (topic_of(s), dead_letter_topic_of(s))),
        PUBLIC_TOPIC,
        *(dead_letter_topic_of(s) for s in READ_MODELS),
    ]


async def serve(settings: ServiceSettings, wire: Wire, stop: asyncio.Event) -> None:
    name = settings.SERVICE
    kit, kafka, watch, consumers = await _open(settings)
    try:
        wiring = await wire(kit)
    except PolicyError as exc:
        # A service's own policy section, validated while it is wired: reported as a
        # load_policy error is (the file, the key, the rule), and the service stops (the
        # store's and the publisher's threads closed, or they would keep the process up).
        await kit.publisher.stop()
        await kit.store.close()
        raise PolicyError(f"{settings.policy_file}: {exc}") from exc
    consumer = None
    if wiring.handle is not None:
        consumer = EventConsumer(
            kafka,
            topics=wiring.consumes,
            group_id=f"casework-{name}",
            handle=wiring.handle,
            dead_letter_topic=dead_letter_topic_of(name),
            publisher=kit.publisher,
            ownership=kit.ownership,
            stall_seconds=settings.stall_seconds,
        )
        consumers.append(consumer)
        _consumer_metrics(kit.registry, consumer)
    _relay_metrics(kit.registry, kit.relay)
    _bus_metrics(kit.registry, kit.relay, watch)

    runner = web.AppRunner(wiring.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.port)
    await site.start()
    # Before the consumer and the duties start: the collection pauses nothing they time.
    log.info("%s: %d start-up objects frozen", name, heap.settle())
    tasks = _start(kit, wiring, watch, consumer)
    print(f"{name} listening on http://{settings.http_host}:{settings.port}", flush=True)
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        log.info("%s stopping", name)
        await runner.cleanup()
        if consumer is not None:
            await consumer.stop(timeout=10)
        for hook in wiring.on_stop:
            await hook()
        kit.relay.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        waiter.cancel()
        await kit.publisher.stop()
        await kit.store.close()
        log.info("%s stopped", name)


async def _open(
    settings: ServiceSettings,
) -> tuple[Kit, KafkaSettings, BusWatch, list[EventConsumer]]:
    """Policy, store, publisher, topics, outbox relay and bus watch, in that order; the
    list of consumers is the ``broker`` health check's, filled once the service is wired."""
    name = settings.SERVICE
    policy = load_policy(settings.policy_file)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await open_store(settings.store_url)
    kafka = settings.kafka()
    publisher = EventPublisher(kafka)
    await publisher.start()
    await ensure_topics(
        kafka,
        all_topics(),
        partitions=settings.kafka_partitions,
        replication=settings.kafka_replication,
    )
    parking = OutboxParking(store, publisher, name, dead_letter_topic_of(name))
    relay = OutboxRelay(
        store,
        publisher.publish,
        publish_many=publisher.publish_many,
        poll_interval=settings.outbox_poll_seconds,
        park=parking.park,
        is_poison=is_unpublishable,
        retention_seconds=settings.outbox_retention_seconds,
    )
    registry = CollectorRegistry()
    watch = BusWatch(
        kafka,
        publisher,
        topics=all_topics(),
        on_loss=relay.request_replay,
        partitions=settings.kafka_partitions,
        replication=settings.kafka_replication,
        interval=settings.bus_check_seconds,
        marks=store,
        registry=registry,
    )
    consumers: list[EventConsumer] = []
    kit = Kit(
        settings=settings,
        policy=policy,
        store=store,
        publisher=publisher,
        relay=relay,
        registry=registry,
        health_checks={"store": store.ping, "broker": bus_health(publisher, consumers)},
    )
    return kit, kafka, watch, consumers


def _start(
    kit: Kit, wiring: Wiring, watch: BusWatch, consumer: EventConsumer | None
) -> list[asyncio.Task[None]]:
    """The duties under their leases (the outbox relay's first), those of every instance,
    and the consumer."""
    name = kit.settings.SERVICE
    holder = kit.settings.instance_id
    seconds = kit.settings.lease_seconds
    leases = [Lease(kit.store, "outbox-relay", holder, seconds)]
    leases += [Lease(kit.store, f"duty:{duty}", holder, seconds) for duty in wiring.once]
    _lease_metrics(kit.registry, leases)
    once = {"outbox-relay": relay_and_watch(kit.relay, watch), **wiring.once}
    tasks = [
        asyncio.create_task(run_while_holding(lease, duty), name=f"{name}-{lease.name}")
        for lease, duty in zip(leases, once.values(), strict=True)
    ]
    tasks += [asyncio.create_task(duty(), name=f"{name}-duty") for duty in wiring.duties]
    if consumer is not None:
        tasks.append(asyncio.create_task(consumer.run(), name=f"{name}-consumer"))
    return tasks


def bus_health(publisher: EventPublisher, consumers: list[EventConsumer]) -> HealthCheck:
    """The ``broker`` health check: no consumer (of ``consumers``, read at each call) is
    stalled, and the broker answers."""

    async def check() -> None:
        for consumer in consumers:
            await consumer.health()
        await publisher.ping()

    return check


def relay_and_watch(relay: OutboxRelay, watch: BusWatch) -> Duty:
    """The lease holder's duty: publish the outbox, and watch that the bus keeps it."""

    async def duty() -> None:
        watching = asyncio.create_task(watch.run(), name="bus-watch")
        try:
            await relay.run()
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)

    return duty


def _bus_metrics(registry: CollectorRegistry, relay: OutboxRelay, watch: BusWatch) -> None:
    for source, attr, name, doc in (
        (watch, "losses", "bus_losses_total", "Times the bus was found to have lost events."),
        (relay, "replays", "bus_replays_total", "Replays of the outbox history finished."),
        (relay, "replayed", "bus_replayed_events_total", "Events published again by replays."),
    ):
        gauge = Gauge(name, doc, registry=registry)
        gauge.set_function(_reader(source, attr))


def _consumer_metrics(registry: CollectorRegistry, consumer: EventConsumer) -> None:
    for attr, doc in (
        ("handled", "Events handled and committed."),
        ("dead_lettered", "Events sent to the dead-letter topic."),
        ("retried", "Handler retries after a transient failure."),
        ("held_elsewhere", "Events put off while another instance did their effect."),
        ("rebuilds", "Consumer rebuilds after its commits kept failing (bus lost its data)."),
    ):
        gauge = Gauge(f"consumer_events_{attr}", doc, registry=registry)
        gauge.set_function(_reader(consumer, attr))


def _relay_metrics(registry: CollectorRegistry, relay: OutboxRelay) -> None:
    for attr, doc in (
        ("published", "Outbox messages published."),
        ("failures", "Outbox publish attempts that failed and will be retried."),
        ("parked", "Outbox entries the broker refused for good, set aside and dead-lettered."),
    ):
        gauge = Gauge(f"outbox_{attr}", doc, registry=registry)
        gauge.set_function(_reader(relay, attr))


def _lease_metrics(registry: CollectorRegistry, leases: list[Lease]) -> None:
    gauge = Gauge(
        "lease_held", "1 while this instance holds the lease.", ["lease"], registry=registry
    )
    for lease in leases:
        gauge.labels(lease=lease.name).set_function(_held(lease))


def _held(lease: Lease) -> Callable[[], float]:
    return lambda: 1.0 if lease.held else 0.0


def _reader(source: object, attr: str) -> Callable[[], float]:
    return lambda: float(getattr(source, attr))


def configure_logging() -> None:
    level = os.environ.get("CASEWORK_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def main(settings_class: type[ServiceSettings], wire: Wire) -> None:
    configure_logging()
    try:
        settings = load_settings(settings_class)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, wire, stop)

    try:
        asyncio.run(run())
    except (PolicyError, ConfigError) as exc:
        sys.exit(f"error: {exc}")

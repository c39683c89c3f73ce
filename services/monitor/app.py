"""The monitor's wiring: the one place its parts are put together."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import faust
from aiohttp import web

from casework.assertion_auth import AssertionGate
from casework.contract import SERVICES, dead_letter_topic_of, topic_of
from casework.dispatch import consumed_topics
from casework.http import make_app
from casework.periodic import every
from casework.runtime import Kit, Wiring
from casework.signing import load_public_keys
from services.monitor.adapters.alert_book import AlertBook
from services.monitor.adapters.lag import consumer_lag
from services.monitor.domain.alerts import StallRules
from services.monitor.domain.views import Views
from services.monitor.entrypoints.metrics import MonitorCollector
from services.monitor.entrypoints.streams import build_app
from services.monitor.entrypoints.web.access import MonitorAccess
from services.monitor.entrypoints.web.dashboard import Dashboard
from services.monitor.handlers import HANDLERS
from services.monitor.policy import rules_of
from services.monitor.settings import MonitorSettings
from services.monitor.usecases import Tracker


def source_topics() -> list[str]:
    """The topics of the events the monitor folds (every service's, its own for alert and
    replay records), from its table, and every service's dead-letter topic."""
    return [*consumed_topics(HANDLERS), *(dead_letter_topic_of(s) for s in SERVICES)]


def now() -> datetime:
    return datetime.now(UTC)


async def wire(kit: Kit) -> Wiring:
    settings = kit.settings
    assert isinstance(settings, MonitorSettings)
    book = AlertBook(
        kit.store,
        kit.relay,
        language=settings.ops_language,
        ops_address=settings.ops_address,
        case_url=settings.case_url,
        clock=now,
    )
    await book.load()
    views = Views(HANDLERS)
    tracker = Tracker(
        views,
        book,
        at_risk_window=settings.at_risk_window,
        quiet_seconds=settings.quiet_seconds,
        clock=now,
        stalls=StallRules(rules_of(kit.policy), kit.policy.notify),
    )
    streams = build_app(
        kafka=settings.kafka(),
        topics=source_topics(),
        on_record=tracker.on_record,
        state_recovery=settings.state_recovery,
        session_timeout_s=settings.kafka_session_timeout_ms / 1000,
        partitions=settings.kafka_partitions,
        replication=settings.kafka_replication,
        data_dir=str(settings.data_dir / "monitor-faust"),
    )

    async def run_streams() -> None:
        await streams.start()
        await asyncio.Event().wait()  # runs until the runtime cancels it

    async def measure_lag() -> None:
        services = [topic_of(s) for s in SERVICES]
        lag = await consumer_lag(settings.kafka(), services, floors=dict(views.read_up_to))
        views.set_lag(lag)
        tracker.changed()

    async def stop_streams() -> None:
        await streams.stop()

    return Wiring(
        app=web_app(kit, settings, tracker, streams),
        duties=[
            run_streams,
            every(
                "deadline-check",
                settings.tick_seconds,
                tracker.check_clock,
                registry=kit.registry,
                first_after=settings.tick_seconds,
            ),
            every("consumer-lag", settings.lag_seconds, measure_lag, registry=kit.registry),
        ],
        on_stop=[stop_streams],
    )


def web_app(
    kit: Kit, settings: MonitorSettings, tracker: Tracker, streams: faust.App
) -> web.Application:
    """Health (the faust app's too), metrics, staff access and the dashboard."""

    async def streams_answer() -> None:
        if not streams.started or streams.should_stop:
            raise RuntimeError("the faust app is not running")

    kit.registry.register(MonitorCollector(tracker, now, settings.at_risk_window))
    app = make_app(
        registry=kit.registry, health_checks={**kit.health_checks, "streams": streams_answer}
    )
    access = kit.policy.access
    MonitorAccess(
        AssertionGate(
            load_public_keys(settings.review_public_key_files),
            audience="monitor",
            allowed=lambda roles: access.may_use("monitor", roles),
            clock=now,
        ),
        public_url=settings.public_url,
        handoff_url=settings.handoff_url,
        secure_cookies=settings.secure_cookies,
        clock=now,
    ).install(app)
    Dashboard(
        tracker,
        clock=now,
        at_risk_window=settings.at_risk_window,
        case_url=settings.case_url,
        confidential_types=access.confidential_action_types,
        may_see_confidential=access.may_see_confidential,
    ).routes(app)
    return app

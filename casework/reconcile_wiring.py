"""Putting the ledger and the reconciliation duty into a service (its ``wire``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from casework.config import LedgerSettings, UpstreamSettings
from casework.ledger import Ledger
from casework.reconcile import Handled, Handler, LedgerClient, Reconciler, outbox_report
from casework.runtime import Duty, Kit

log = logging.getLogger(__name__)


def serve_ledger(
    kit: Kit, app: web.Application, types: Collection[str], *, ahead_of_access: bool = False
) -> Ledger:
    """Serve the ledger of ``types`` on ``app`` to the holder of the configured token:
    as a route, or (``ahead_of_access``, before a staff access middleware is added) as a
    middleware that answers it first (casework.ledger.Ledger.middleware)."""
    assert isinstance(kit.settings, LedgerSettings)
    token = kit.settings.ledger_token()
    if token is None:
        log.warning("CASEWORK_LEDGER_TOKEN_FILE unset: the ledger refuses every caller")
    ledger = Ledger(kit.store, types, token)
    if ahead_of_access:
        app.middlewares.append(ledger.middleware())
    else:
        ledger.register(app)
    gauge = Gauge(
        "ledger_items_served", "Ledger items served to the downstream.", registry=kit.registry
    )
    gauge.set_function(_reader(ledger, "served"))
    return ledger


def reconcile_from(
    kit: Kit, upstream: str, types: Collection[str], *, handled: Handled, handle: Handler
) -> dict[str, Duty]:
    """The ``once`` duty reconciling the ``types`` of ``upstream``'s ledger (none when no
    upstream URL is set)."""
    settings = kit.settings
    assert isinstance(settings, UpstreamSettings)
    if settings.upstream_url is None:
        log.warning("CASEWORK_UPSTREAM_URL unset: no reconciliation from %s", upstream)
        return {}
    reconciler = Reconciler(
        upstream,
        kit.store,
        LedgerClient(settings.upstream_url, settings.upstream_token()),
        handled=handled,
        handle=handle,
        report=outbox_report(kit.store, kit.relay, kit.settings.SERVICE, upstream),
        types=types,
        interval=settings.reconcile_seconds,
    )
    reconcile_metrics(kit.registry, reconciler)
    return {f"reconcile-{upstream}": reconciler.run}


def reconcile_metrics(registry: CollectorRegistry, reconciler: Reconciler) -> None:
    for attr, name, doc in (
        ("checked", "reconcile_items_checked", "Upstream ledger items checked."),
        ("finished", "reconcile_gaps_finished", "Gaps the reconciliation finished."),
        ("unfinishable", "reconcile_gaps_unfinishable", "Gaps it could not finish (alerted)."),
        ("passes", "reconcile_passes", "Reconciliation passes completed."),
        ("pass_failures", "reconcile_pass_failures", "Passes that failed (upstream unreachable)."),
    ):
        gauge = Gauge(name, doc, registry=registry)
        gauge.set_function(_reader(reconciler, attr))


def _reader(source: object, attr: str) -> Callable[[], float]:
    return lambda: float(getattr(source, attr))

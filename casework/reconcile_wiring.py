"""Putting the ledger and the reconciliation duty into a service (its ``wire``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from weakref import WeakKeyDictionary

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from casework.config import LedgerSettings, ReconcileSettings, UpstreamSettings
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
    tokens = kit.settings.ledger_tokens()
    if not tokens:
        log.warning("CASEWORK_LEDGER_TOKEN_FILE unset: the ledger refuses every caller")
    ledger = Ledger(kit.store, types, tokens)
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
    kit: Kit,
    upstream: str,
    types: Collection[str],
    *,
    handled: Handled,
    handle: Handler,
    ledger: tuple[str | None, Callable[[], str]] | None = None,
) -> dict[str, Duty]:
    """The ``once`` duty reconciling the ``types`` of ``upstream``'s ledger (none when no
    upstream URL is set). ``ledger``: its URL and token (default: CASEWORK_UPSTREAM_*)."""
    if ledger is None:
        settings = kit.settings
        assert isinstance(settings, UpstreamSettings)
        ledger = (settings.upstream_url, settings.upstream_token)
    url, token = ledger
    if url is None:
        log.warning("no ledger URL for %s: no reconciliation from it", upstream)
        return {}
    settings = kit.settings
    interval = settings.reconcile_seconds if isinstance(settings, ReconcileSettings) else 60
    reconciler = Reconciler(
        upstream,
        kit.store,
        LedgerClient(url, token()),
        handled=handled,
        handle=handle,
        report=outbox_report(kit.store, kit.relay, kit.settings.SERVICE, upstream),
        types=types,
        interval=interval,
        registry=kit.registry,
    )
    reconcile_metrics(kit.registry, reconciler, upstream)
    return {f"reconcile-{upstream}": reconciler.run}


_METRICS = (
    ("checked", "reconcile_items_checked", "Upstream ledger items checked."),
    ("finished", "reconcile_gaps_finished", "Gaps the reconciliation finished."),
    ("unfinishable", "reconcile_gaps_unfinishable", "Gaps it could not finish (alerted)."),
    ("passes", "reconcile_passes", "Reconciliation passes completed."),
    ("pass_failures", "reconcile_pass_failures", "Passes that failed (upstream unreachable)."),
)
_GAUGES: WeakKeyDictionary[CollectorRegistry, dict[str, Gauge]] = WeakKeyDictionary()


def reconcile_metrics(registry: CollectorRegistry, reconciler: Reconciler, upstream: str) -> None:
    """The duty's counters, labelled by upstream (notify reconciles from two)."""
    gauges = _GAUGES.get(registry)
    if gauges is None:
        gauges = {
            attr: Gauge(name, doc, ["upstream"], registry=registry) for attr, name, doc in _METRICS
        }
        _GAUGES[registry] = gauges
    for attr, gauge in gauges.items():
        gauge.labels(upstream=upstream).set_function(_reader(reconciler, attr))


def _reader(source: object, attr: str) -> Callable[[], float]:
    return lambda: float(getattr(source, attr))

"""``every``: the one shape of a periodic duty (a scan, a purge, a reconciliation pass).

Each pass runs, then the duty sleeps ``seconds``. A pass that raises is logged with the
duty's name and retried after a backoff that doubles from ``seconds / 8`` up to
``seconds`` (never faster than ``min_backoff``), so a store or wiki that is down is not
hammered and a healthy duty keeps its beat. Cancelling the duty (its lease was lost, the
service stops) cancels the pass in flight. Passes, failures and the last good pass are
metrics labelled with the duty's name, on the service's registry when one is given.

Run it on every instance (``Wiring.duties``) or under a lease (``Wiring.once``): the
lease is the runtime's business, not this helper's.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger(__name__)

Pass = Callable[[], Awaitable[object]]
Duty = Callable[[], Coroutine[Any, Any, None]]


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.passes = Counter(
            "duty_passes", "Periodic duty passes completed.", ["duty"], registry=registry
        )
        self.failures = Counter(
            "duty_failures", "Periodic duty passes that raised.", ["duty"], registry=registry
        )
        self.last_good = Gauge(
            "duty_last_good_pass_timestamp_seconds",
            "When the duty last completed a pass (Unix time).",
            ["duty"],
            registry=registry,
        )


# Keyed by the registry itself, weakly: an id() of a registry gone could be reused by a new
# one, which would then get metrics registered on the old registry and show none.
_metrics_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, _Metrics] = (
    weakref.WeakKeyDictionary()
)
_unregistered = _Metrics(None)


def _metrics(registry: CollectorRegistry | None) -> _Metrics:
    if registry is None:
        return _unregistered
    found = _metrics_by_registry.get(registry)
    if found is None:
        found = _metrics_by_registry[registry] = _Metrics(registry)
    return found


def every(
    name: str,
    seconds: float,
    step: Pass,
    *,
    registry: CollectorRegistry | None = None,
    first_after: float = 0.0,
    min_backoff: float = 0.05,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Duty:
    """A duty that runs ``step`` now (or after ``first_after`` seconds), then every
    ``seconds``; a failing pass is retried with a doubling backoff capped at ``seconds``."""
    if seconds <= 0:
        raise ValueError(f"duty {name}: seconds must be positive, not {seconds!r}")
    metrics = _metrics(registry)

    async def duty() -> None:
        if first_after > 0:
            await sleep(first_after)
        backoff = max(min_backoff, seconds / 8)
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.failures.labels(name).inc()
                log.exception("duty %s failed; next try in %.2fs", name, backoff)
                await sleep(backoff)
                backoff = min(seconds, backoff * 2)
                continue
            metrics.passes.labels(name).inc()
            metrics.last_good.labels(name).set(time.time())
            backoff = max(min_backoff, seconds / 8)
            await sleep(seconds)

    duty.__name__ = duty.__qualname__ = f"every:{name}"
    return duty

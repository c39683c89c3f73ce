"""The Grafana dashboard in deploy/grafana/ only queries metrics the monitor exports.

The exported names come from a real scrape of the monitor's collector (prometheus-client's
own text exposition), not from a hand-kept list.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from services.monitor.domain.views import Views
from services.monitor.entrypoints.metrics import METRIC_NAMES, MonitorCollector
from services.monitor.handlers import HANDLERS

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "monitor-dashboard.json"


def exported_names() -> set[str]:
    source = SimpleNamespace(views=Views(HANDLERS), unreadable=0)
    registry = CollectorRegistry()
    registry.register(MonitorCollector(source, lambda: datetime.now(UTC), timedelta(hours=24)))
    text = generate_latest(registry).decode()
    # TYPE lines name every family, samples or not (a counter's with its _total suffix).
    return set(re.findall(r"^# TYPE (\S+) \S+$", text, re.MULTILINE))


def queried_names() -> set[str]:
    board = json.loads(DASHBOARD.read_text("utf-8"))
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert exprs, "the dashboard has no queries"
    found = set()
    for expr in exprs:
        without_labels = re.sub(r"\{[^}]*\}", "", expr)
        found |= {
            w for w in re.findall(r"[a-z_][a-z0-9_]*", without_labels) if w.startswith("monitor_")
        }
    return found


def test_every_panel_queries_an_exported_metric() -> None:
    exported = exported_names()
    queried = queried_names()
    assert queried <= exported, f"not exported: {sorted(queried - exported)}"


def test_every_exported_figure_has_a_panel() -> None:
    assert exported_names() == set(METRIC_NAMES)
    assert queried_names() == set(METRIC_NAMES)


def test_every_panel_uses_the_datasource_variable() -> None:
    board = json.loads(DASHBOARD.read_text("utf-8"))
    assert all(p["datasource"]["uid"] == "${datasource}" for p in board["panels"])

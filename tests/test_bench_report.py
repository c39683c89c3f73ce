"""The benchmark's report files, built from hand-made rows (no benchmark is run)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bench.report import (
    Row,
    Run,
    below,
    git_state,
    machine,
    percentiles,
    ratio_at_least,
    ratio_below,
    write,
)

RUN = Run(
    started=datetime(2026, 12, 3, 20, 5, tzinfo=UTC),
    seconds=312.4,
    quick=False,
    machine={"host": "vm", "cores": 2, "cpu": "AMD EPYC", "python": "3.11.7"},
    git={"commit": "0" * 40, "dirty": True},
    note="Shared machine.",
    parts_done=["raw", "intake"],
    parts=["raw", "intake"],
)
ROWS = [
    Row("raw: bare aiohttp JSON endpoint, 32 clients", 10_000.0, "req/s"),
    Row("intake: accepted", 3_000.0, "req/s", 10_000.0, ratio_at_least(0.25, "bare aiohttp")),
    Row("intake: too slow", 2_000.0, "req/s", 10_000.0, ratio_at_least(0.25)),
    Row("approval → email, p99", 350.0, "ms", goal=below(1000, "ms")),
    Row("queue page, p99", 50.0, "ms", goal=below(50, "ms")),
    Row("memory: review RSS", 97.0, "MiB", 80.0, ratio_below(1.2, "growth < 20 %")),
    Row("latency p50 with nothing seen", float("nan"), "ms"),
]


def test_json_has_every_measure_with_its_goal_and_the_run(tmp_path: Path) -> None:
    markdown, machine_readable = write(ROWS, RUN, docs=tmp_path)
    report = json.loads(machine_readable.read_text(encoding="utf-8"))

    assert report["schema"] == "casework-benchmarks/1"
    assert report["run"] == {
        "date": "2026-12-03T20:05:00+00:00",
        "duration_s": 312.4,
        "quick": False,
        "machine": RUN.machine,
        "git_commit": "0" * 40,
        "git_dirty": True,
        "note": "Shared machine.",
        "complete": True,
        "parts": ["raw", "intake"],
        "parts_done": ["raw", "intake"],
    }
    measures = {m["name"]: m for m in report["measures"]}
    assert [m["name"] for m in report["measures"]] == [row.name for row in ROWS]
    for m in report["measures"]:
        assert set(m) == {"name", "value", "unit", "raw_limit", "ratio", "goal", "met"}

    assert measures["raw: bare aiohttp JSON endpoint, 32 clients"] == {
        "name": "raw: bare aiohttp JSON endpoint, 32 clients",
        "value": 10_000.0,
        "unit": "req/s",
        "raw_limit": None,
        "ratio": None,
        "goal": None,
        "met": None,
    }
    intake = measures["intake: accepted"]
    assert (intake["raw_limit"], intake["ratio"], intake["met"]) == (10_000.0, 0.3, True)
    assert intake["goal"] == {
        "text": "ratio ≥ 0.25 × bare aiohttp",
        "of": "ratio",
        "op": ">=",
        "threshold": 0.25,
    }
    assert measures["intake: too slow"]["met"] is False
    assert measures["approval → email, p99"]["met"] is True
    assert measures["approval → email, p99"]["goal"]["of"] == "value"
    assert measures["queue page, p99"]["met"] is False  # "< 50 ms" is strict
    memory = measures["memory: review RSS"]
    assert (memory["ratio"], memory["met"]) == (97.0 / 80.0, False)
    assert measures["latency p50 with nothing seen"]["value"] is None  # JSON has no NaN
    assert report["summary"] == {"goals": 5, "met": 2}

    text = markdown.read_text(encoding="utf-8")
    assert "Goals met: 2 of 5." in text
    assert "| intake: too slow | 2,000.0 | req/s | 10,000 | 0.2 | ratio ≥ 0.25 | **no** |" in text
    assert "at commit 000000000000 with uncommitted changes" in text
    assert "Partial run" not in text


def test_a_partial_run_says_which_parts_are_missing(tmp_path: Path) -> None:
    partial = replace(RUN, parts_done=["raw"])
    markdown, machine_readable = write(ROWS[:1], partial, docs=tmp_path)
    report = json.loads(machine_readable.read_text(encoding="utf-8"))
    assert report["run"]["complete"] is False
    assert report["run"]["parts_done"] == ["raw"]
    assert "**Partial run**: not measured (failed, or not reached): intake." in markdown.read_text()


def test_a_missing_ratio_fails_a_ratio_goal() -> None:
    row = Row("no limit measured", 5.0, "req/s", None, ratio_at_least(0.25))
    assert row.ratio is None
    assert row.met is False


def test_machine_and_git_describe_this_checkout() -> None:
    about = machine()
    assert isinstance(about["cores"], int) and about["cores"] >= 1
    assert about["python"].count(".") == 2
    state = git_state()
    assert isinstance(state["commit"], str) and len(state["commit"]) == 40
    assert isinstance(state["dirty"], bool)


def test_percentiles_make_a_p50_row_and_a_p99_row_with_the_goal() -> None:
    p50, p99 = percentiles(
        "idle: x", {"mail_p50_ms": 3.0, "mail_p99_ms": 9.0}, "mail_", p99_under_ms=5
    )
    assert (p50.name, p50.value, p50.unit, p50.goal) == ("idle: x, p50", 3.0, "ms", None)
    assert (p99.name, p99.value, p99.goal) == ("idle: x, p99", 9.0, below(5, "ms"))

"""The benchmark's table: rows with their goals, rendered as docs/benchmarks.md for people
and docs/benchmarks.json for tools (the same rows, plus the run's date, machine, duration
and git commit)."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

DOCS = Path(__file__).resolve().parent.parent / "docs"
SCHEMA = "casework-benchmarks/1"


@dataclass(frozen=True)
class Goal:
    """A target on a row's value, or on its ratio to the row's raw limit."""

    of: Literal["value", "ratio"]
    op: Literal[">=", "<"]
    threshold: float
    text: str

    def met_by(self, value: float, ratio: float | None) -> bool:
        measured = value if self.of == "value" else ratio
        if measured is None:
            return False
        return measured >= self.threshold if self.op == ">=" else measured < self.threshold


def ratio_at_least(threshold: float, of: str = "") -> Goal:
    return Goal("ratio", ">=", threshold, f"ratio ≥ {threshold:g}{f' × {of}' if of else ''}")


def ratio_below(threshold: float, text: str) -> Goal:
    return Goal("ratio", "<", threshold, text)


def below(threshold: float, unit: str) -> Goal:
    return Goal("value", "<", threshold, f"< {threshold:g} {unit}")


@dataclass(frozen=True)
class Row:
    name: str
    value: float
    unit: str
    limit: float | None = None  # what it is compared with (a raw limit, or one instance)
    goal: Goal | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.limit if self.limit else None

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met_by(self.value, self.ratio)


def percentiles(
    name: str, figures: dict[str, float], key: str = "", *, p99_under_ms: float
) -> tuple[Row, Row]:
    """``name``'s p50 and p99 rows, in ms, from ``figures[key + "p50_ms"]`` and
    ``figures[key + "p99_ms"]``; the goal is on the p99."""
    return (
        Row(f"{name}, p50", figures[f"{key}p50_ms"], "ms"),
        Row(f"{name}, p99", figures[f"{key}p99_ms"], "ms", goal=below(p99_under_ms, "ms")),
    )


class Rows(list[Row]):
    """The table so far; each row is also printed as it is measured, for long runs."""

    def add(self, *new: Row) -> None:
        for row in new:
            self.append(row)
            met = "" if row.met is None else (" (met)" if row.met else " (NOT met)")
            print(f"  {row.name}: {row.value:,.1f} {row.unit}{met}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = ""
    memory_mib = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mib = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    return {
        "host": platform.node(),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_mib": memory_mib,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def git_state(repo: Path = DOCS.parent) -> dict[str, Any]:
    """The commit the run measured, and whether the checkout differed from it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(changed)}


@dataclass(frozen=True)
class Run:
    started: datetime
    seconds: float
    quick: bool
    machine: dict[str, Any]
    git: dict[str, Any]
    note: str = ""
    parts_done: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.parts_done == self.parts


def _number(x: float | None) -> float | None:
    """JSON has no NaN or infinity: a figure that could not be measured is null."""
    return x if x is not None and math.isfinite(x) else None


def to_json(rows: list[Row], run: Run) -> dict[str, Any]:
    goals = [row for row in rows if row.goal is not None]
    return {
        "schema": SCHEMA,
        "run": {
            "date": run.started.isoformat(timespec="seconds"),
            "duration_s": round(run.seconds, 1),
            "quick": run.quick,
            "machine": run.machine,
            "git_commit": run.git.get("commit"),
            "git_dirty": run.git.get("dirty"),
            "note": run.note,
            "complete": run.complete,
            "parts": run.parts,
            "parts_done": run.parts_done,
        },
        "summary": {"goals": len(goals), "met": sum(1 for row in goals if row.met)},
        "measures": [
            {
                "name": row.name,
                "value": _number(row.value),
                "unit": row.unit,
                "raw_limit": _number(row.limit),
                "ratio": _number(row.ratio),
                "goal": None
                if row.goal is None
                else {
                    "text": row.goal.text,
                    "of": row.goal.of,
                    "op": row.goal.op,
                    "threshold": row.goal.threshold,
                },
                "met": row.met,
            }
            for row in rows
        ],
    }


def to_markdown(rows: list[Row], run: Run) -> str:
    m = run.machine
    commit = (run.git.get("commit") or "unknown")[:12]
    dirty = " with uncommitted changes" if run.git.get("dirty") else ""
    goals = [row for row in rows if row.goal is not None]
    lines = [
        "# Benchmarks",
        "",
        f"Run {run.started:%Y-%m-%d %H:%M} UTC on {m['host']} · {m['cores']} cores · {m['cpu']}"
        f" · Python {m['python']}, in {run.seconds:.0f} s (`make bench`"
        f"{' --quick' if run.quick else ''}), at commit {commit}{dirty}.",
        "Each figure stands next to the raw limit it is compared with, measured in the same run."
        " The same table, machine-readable: [benchmarks.json](benchmarks.json).",
        "",
    ]
    if not run.complete:
        missing = ", ".join(p for p in run.parts if p not in run.parts_done)
        lines += [f"**Partial run**: not measured (failed, or not reached): {missing}.", ""]
    if run.note:
        lines += [run.note, ""]
    lines += [
        f"Goals met: {sum(1 for row in goals if row.met)} of {len(goals)}.",
        "",
        "| measure | value | unit | raw limit | ratio | goal | met |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        limit = f"{row.limit:,.0f}" if row.limit else ""
        ratio = "" if row.ratio is None else f"{row.ratio:.3g}"
        goal = row.goal.text if row.goal else ""
        lines.append(
            f"| {row.name} | {row.value:,.1f} | {row.unit} | {limit} | {ratio} | {goal} | {met} |"
        )
    return "\n".join(lines) + "\n"


def write(rows: list[Row], run: Run, docs: Path = DOCS) -> tuple[Path, Path]:
    markdown, machine_readable = docs / "benchmarks.md", docs / "benchmarks.json"
    markdown.write_text(to_markdown(rows, run), encoding="utf-8")
    text = json.dumps(to_json(rows, run), indent=2, ensure_ascii=False, allow_nan=False)
    machine_readable.write_text(text + "\n", encoding="utf-8")
    return markdown, machine_readable

"""`make bench`: run every scenario, print one table of figures and ratios to raw limits
measured in the same run, and write it to docs/benchmarks.md with the date and machine."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import scenarios
from bench.queue import queue_page

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


@dataclass
class Row:
    name: str
    value: float
    unit: str
    limit: float | None = None  # the raw limit it is compared with, same unit
    goal: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> str:
        return f"{self.value / self.limit:.2f}" if self.limit else ""


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.node()} · {os.cpu_count()} cores · {cpu} · Python {platform.python_version()}"
    )


class Rows(list[Row]):
    """The table so far; each row is also printed as it is measured, for long runs."""

    def add(self, *new: Row) -> None:
        for row in new:
            self.append(row)
            print(f"  {row.name}: {row.value:,.1f} {row.unit}", file=sys.stderr, flush=True)


async def collect(quick: bool) -> list[Row]:
    rows = Rows()
    kafka = await scenarios.kafka_limits()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_rate = scenarios.sqlite_limit(Path(tmp))
    http = await scenarios.http_limits()
    bare, intake = http["bare"], http["intake"]
    rows.add(
        Row("raw: aiokafka produce 1 KB (acks=all)", kafka["produce_per_s"], "msg/s"),
        Row("raw: aiokafka consume 1 KB", kafka["consume_per_s"], "msg/s"),
        Row("raw: aiokafka consume + produce loop", kafka["relay_per_s"], "msg/s"),
        Row("raw: bare aiohttp JSON endpoint, 32 clients", bare["rps"], "req/s"),
        Row("raw: SQLite insert+commit (WAL, synchronous=FULL)", sqlite_rate, "doc/s"),
    )
    ratio = intake["rps"] / bare["rps"]
    rows.add(
        Row(
            "intake: accepted submissions, 32 clients",
            intake["rps"],
            "req/s",
            bare["rps"],
            "ratio ≥ 0.4",
            ratio >= 0.4,
        ),
        Row("intake: latency p50", intake["p50_ms"], "ms"),
        Row("intake: latency p99", intake["p99_ms"], "ms"),
    )
    backlog = 5_000 if quick else 20_000
    one = await scenarios.pipeline(1, backlog)
    two = await scenarios.pipeline(2, backlog)
    rows.add(
        Row(
            f"pipeline: review opens cases from {backlog} events, 1 instance",
            one["per_s"],
            "event/s",
            kafka["relay_per_s"],
            "ratio ≥ 0.3",
            one["per_s"] / kafka["relay_per_s"] >= 0.3,
        ),
        Row(
            "pipeline: 2 instances in one group",
            two["per_s"],
            "event/s",
            one["per_s"],
            "scale-out factor",
        ),
    )
    cases = 300 if quick else 1000
    scale_one = await scenarios.scale_out(1, cases)
    scale_two = await scenarios.scale_out(2, cases)
    rows.add(
        Row(
            f"end to end: {cases} cases, submission → ActionEnforced, 1 instance each",
            scale_one["enforced_per_s"],
            "case/s",
        ),
        Row(
            "end to end: same, 2 instances each of review, enforcement, notify",
            scale_two["enforced_per_s"],
            "case/s",
            scale_one["enforced_per_s"],
            "scale-out factor",
        ),
        Row(
            f"end to end: {cases} cases, submission → affected user emailed, 1 instance each",
            scale_one["told_per_s"],
            "case/s",
        ),
        Row(
            "end to end: same, 2 instances each",
            scale_two["told_per_s"],
            "case/s",
            scale_one["told_per_s"],
            "scale-out factor",
        ),
    )
    latency = await scenarios.intake_to_review_latency(50, 250 if quick else 500)
    rows.add(
        Row("latency at 50/s: intake 202 → case opened, p50", latency["p50_ms"], "ms"),
        Row(
            "latency at 50/s: intake 202 → case opened, p99",
            latency["p99_ms"],
            "ms",
            goal="< 100 ms",
            met=latency["p99_ms"] < 100,
        ),
    )
    effects = await scenarios.approval_to_effects(10 if quick else 20)
    rows.add(
        Row("final approval → wiki block, p50", effects["block_p50_ms"], "ms"),
        Row(
            "final approval → wiki block, p99",
            effects["block_p99_ms"],
            "ms",
            goal="< 1000 ms",
            met=effects["block_p99_ms"] < 1000,
        ),
        Row("final approval → email received, p50", effects["mail_p50_ms"], "ms"),
        Row(
            "final approval → email received, p99",
            effects["mail_p99_ms"],
            "ms",
            goal="< 1000 ms",
            met=effects["mail_p99_ms"] < 1000,
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        queue = await queue_page(Path(tmp), 20_000 if quick else 100_000)
    rows.add(
        Row(
            f"review queue: filtered page of 50, {queue['cases']:,} cases, p50",
            queue["p50_ms"],
            "ms",
        ),
        Row(
            f"review queue: filtered page of 50, {queue['cases']:,} cases, p99",
            queue["p99_ms"],
            "ms",
            goal="< 50 ms",
            met=queue["p99_ms"] < 50,
        ),
    )
    recovery = await scenarios.outbox_recovery(10_000)
    rows.add(
        Row(
            "recovery: 10,000 outbox entries after a broker restart",
            recovery["seconds"],
            "s",
            goal="< 10 s",
            met=recovery["seconds"] < 10 and recovery["published"] >= recovery["entries"],
        )
    )
    return rows


def render(rows: list[Row], started: datetime, seconds: float) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}, in {seconds:.0f} s (`make bench`).",
        "Each figure stands next to the raw limit it is compared with, measured in the same run.",
        "",
        "| measure | value | unit | raw limit | ratio | goal | met |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        limit = f"{row.limit:,.0f}" if row.limit else ""
        lines.append(
            f"| {row.name} | {row.value:,.1f} | {row.unit} | {limit} | {row.ratio} "
            f"| {row.goal} | {met} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    started = datetime.now(UTC)
    t0 = time.monotonic()
    rows = asyncio.run(collect(args.quick))
    text = render(rows, started, time.monotonic() - t0)
    print(text)
    if not args.no_write:
        REPORT.write_text(text, encoding="utf-8")
        print(f"written to {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

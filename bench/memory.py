"""Memory: each service's resident set after 1,000 cases and after 10,000.

Every case goes the whole way that needs no staff: a submission to intake's API (32
clients, full speed), review opens its case, notify acknowledges the requester by email,
and enforcement reads each of review's events. Approval, enforcement's wiki edits and the
outcome emails need four sign-offs per case over HTTP, which would take this run far past
its budget; the end-to-end scenario covers them at 1,000 cases.

The RSS is VmRSS from /proc/<pid>/status of the real service processes, read once the
pipeline is quiet (every acknowledgement sent and no consumer still handling events).
"""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.environment import Bench, bench_environment, run_loadgen, watcher
from casework.cloudevents import from_kafka
from casework.contract import topic_of
from casework.kafka import ensure_topics
from deploy.stack import ServiceProcess

SERVICES = ("notify", "enforcement", "review", "intake")  # started in this order
CONSUMERS = ("notify", "enforcement", "review")
PARTITIONS = 4


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB, as the kernel reports it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS (a kernel thread?)")


def _handled(process: ServiceProcess) -> float:
    with urllib.request.urlopen(f"{process.url}/metrics", timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith("consumer_events_handled "):
                return float(line.split()[1])
    raise RuntimeError(f"{process.name}: no consumer_events_handled metric")


class AckWatch:
    """Counts the requesters acknowledged (NotificationSent to the requester) on the bus."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.acknowledged: set[str] = set()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        consumer = watcher(self.bootstrap, topic_of("notify"), "mem")
        await consumer.start()
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=2000)
                for records in batches.values():
                    for record in records:
                        event = from_kafka(record.key, record.value, record.headers)
                        if event.type.endswith("notification-sent.v1") and (
                            event.data.get("audience") == "requester"
                        ):
                            self.acknowledged.add(event.subject)
        finally:
            await consumer.stop()


async def _quiet(bench: Bench, watch: AckWatch, expected: int, within: float) -> None:
    """Until every requester is acknowledged and no consumer's handled count moves."""
    deadline = time.monotonic() + within
    while len(watch.acknowledged) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"memory run: {len(watch.acknowledged)} of {expected} acknowledged"
                f" after {within:.0f} s"
            )
        await asyncio.sleep(0.2)  # wait-ok: deadline poll on the acknowledgements
    consumers = [p for p in bench.processes if p.name in CONSUMERS]
    before = [await asyncio.to_thread(_handled, p) for p in consumers]
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)  # wait-ok: two reads apart tell whether a consumer still works
        now = [await asyncio.to_thread(_handled, p) for p in consumers]
        if now == before:
            return
        before = now
    raise RuntimeError("memory run: the consumers never went quiet")


async def memory(first: int = 1_000, second: int = 10_000) -> dict[str, Any]:
    """RSS in MiB per service after ``first`` and after ``second`` cases."""
    with bench_environment(wiki=True) as bench:
        await ensure_topics(
            bench.broker.settings(),
            [topic_of(s) for s in ("intake", "review", "enforcement", "notify")],
            partitions=PARTITIONS,
        )
        for name in SERVICES:
            bench.start_service(name)
        intake = next(p for p in bench.processes if p.name == "intake")
        watch = AckWatch(bench.bootstrap)
        watching = asyncio.create_task(watch.run())
        samples: dict[int, dict[str, float]] = {}
        sent = 0
        started = time.perf_counter()
        try:
            for target in (first, second):
                result = await asyncio.to_thread(
                    run_loadgen,
                    "--url",
                    f"{intake.url}/api/v1/requests",
                    "--body",
                    "intake",
                    "--count",
                    str(target - sent),
                    "--start",
                    str(sent),
                    "--max-seconds",
                    "900",
                    timeout=960,
                )
                sent += int(result["ok"])
                if sent != target:
                    raise RuntimeError(f"memory run: intake accepted {sent}, not {target}")
                accepted = time.perf_counter() - started
                await _quiet(bench, watch, target, within=900)
                print(
                    f"  memory: {target:,} accepted after {accepted:.0f} s,"
                    f" all acknowledged after {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                samples[target] = {
                    p.name: rss_kib(p.process.pid) / 1024
                    for p in bench.processes
                    if p.name in SERVICES and p.process is not None
                }
        finally:
            watch.stop()
            await watching
    return {
        "first": first,
        "second": second,
        "seconds": time.perf_counter() - started,
        "rss_mib": samples,
    }

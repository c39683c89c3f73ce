"""Approval → affected user emailed at a given load: cases started at a steady rate (an
open loop, as staff and requesters do not wait for the pipeline), each driven through
intake's and review's HTTP APIs as the scale run drives them, on a cluster already up."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench.stats import percentile
from tests.scale.cases import ScaleCase
from tests.scale.cluster import Cluster
from tests.scale.driver import Driven, Driver
from tests.scale.effects import SENT, TopicWatch

FIRST = 500_000  # case numbers past any other run's, so accounts and idempotency keys differ


def paced_cases(count: int, ban_every: int = 10) -> list[ScaleCase]:
    """The scale run's mix (a global ban every ``ban_every``, else a conduct warning)."""
    return [
        ScaleCase(n, "global-ban" if n % ban_every == 0 else "conduct-warning", f"Paced {n}")
        for n in range(FIRST, FIRST + count)
    ]


async def approval_to_email(
    cluster: Cluster, rate: float, count: int, within: float = 600.0
) -> dict[str, float]:
    """Start ``count`` cases at ``rate`` per second; per case, the time from the final
    sign-off's answer to notify's NotificationSent to the affected user by email."""
    cases = paced_cases(count)
    cluster.create_accounts([c.account for c in cases if c.ban])
    watch = TopicWatch(cluster.bootstrap)
    watching = asyncio.create_task(watch.run())
    driven = Driven()
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256), timeout=aiohttp.ClientTimeout(total=120)
        ) as http:
            driver = Driver(
                http, cluster.live("intake")[0].url, lambda: cluster.live("review"), driven
            )
            started = time.perf_counter()
            tasks = []
            for i, case in enumerate(cases):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)  # wait-ok: pacing a steady rate of cases
                tasks.append(asyncio.create_task(driver.one(case)))
            starting = time.perf_counter() - started
            await asyncio.gather(*tasks)
        deadline = time.monotonic() + within
        while not set(driven.approved_at) <= watch.told():
            if time.monotonic() > deadline:
                missing = len(set(driven.approved_at) - watch.told())
                raise RuntimeError(f"paced run: {missing} affected users not told in {within} s")
            await asyncio.sleep(0.2)  # wait-ok: deadline poll for the last emails
    finally:
        watch.stop()
        await watching
    emailed = {
        s.subject: s.at
        for s in watch.seen
        if s.kind == SENT and s.data.get("audience") == "affected-user"
        if s.data.get("channel") == "email"
    }
    latencies = [(emailed[c] - at) * 1000 for c, at in driven.approved_at.items()]
    return {
        "rate": rate,
        "offered_per_s": (count - 1) / starting if starting > 0 else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
    }

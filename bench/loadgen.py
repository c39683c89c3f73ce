"""HTTP load generator, run as its own process so it does not share a core's event loop
with the server it measures. Bounded in count and in time. Prints one JSON line.

    python -m bench.loadgen --url URL --body bare|intake [--concurrency 32]
        [--count N] [--start N] [--max-seconds S] [--rate R] [--record FILE]

``--rate`` sends at a steady rate instead of as fast as possible; ``--record`` writes one
line per accepted request: the reference and the wall-clock time of the 202. ``--start``
numbers the submissions from N, so that runs in turn name different accounts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench.stats import percentile


def intake_body(n: int) -> dict[str, Any]:
    account = f"Bench User {n}"
    return {
        "action": "global-ban",
        "summary": f"{account} has harassed several editors across talk pages for months.",
        "subject": {"account": account, "wikis": []},
        "evidence": [
            {
                "url": f"https://example.org/bench/{n}",
                "description": "threats in a public forum",
                "where": "off-wiki-public",
            }
        ],
        "prior_attempts": ["https://example.org/noticeboard"],
        "requester": {"name": "Bench Requester", "email": f"bench{n}@example.org"},
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    records: list[str] = []
    errors = 0
    issued = 0
    started = time.perf_counter()
    stop_at = started + args.max_seconds
    connector = aiohttp.TCPConnector(limit=args.concurrency)

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal errors
        if args.body == "intake":
            payload = intake_body(n)
            headers = {"Idempotency-Key": f"bench-{uuid.uuid4().hex}"}
        else:
            payload = {"n": n, "text": "x" * 200}
            headers = {}
        t0 = time.perf_counter()
        try:
            async with session.post(args.url, json=payload, headers=headers) as reply:
                body = await reply.read()
                statuses[reply.status] = statuses.get(reply.status, 0) + 1
                if reply.status in (200, 201, 202):
                    latencies.append(time.perf_counter() - t0)
                    if args.record:
                        reference = json.loads(body).get("reference", "")
                        records.append(f"{reference} {time.time():.6f}")
        except (aiohttp.ClientError, TimeoutError):
            errors += 1

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal issued
        while issued < args.count and time.perf_counter() < stop_at:
            n = issued
            issued += 1
            await one(session, args.start + n)

    async with aiohttp.ClientSession(connector=connector) as session:
        if args.rate:
            tasks = []
            for n in range(args.count):
                due = started + n / args.rate
                if due > stop_at:
                    break
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)  # wait-ok: pacing a steady request rate
                tasks.append(asyncio.create_task(one(session, args.start + n)))
            await asyncio.gather(*tasks)
        else:
            await asyncio.gather(*(worker(session) for _ in range(args.concurrency)))
    seconds = time.perf_counter() - started
    if args.record:
        Path(args.record).write_text("\n".join(records) + "\n", encoding="utf-8")  # noqa: ASYNC240
    return {
        "ok": len(latencies),
        "errors": errors,
        "statuses": statuses,
        "seconds": seconds,
        "rps": len(latencies) / seconds if seconds else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", choices=["bare", "intake"], required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--record", default="")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

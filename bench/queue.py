"""The review queue at scale: a filtered, sorted page with 100,000 cases stored (SQLite)."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.stats import percentile
from casework import heap
from casework.cloudevents import CloudEvent
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.signing import Signer
from casework.store import open_store
from services.review.adapters.staff_file import load_staff
from services.review.adapters.stored import to_document
from services.review.domain.case import CaseState
from services.review.domain.opening import open_case
from services.review.domain.queue import QueueQuery
from services.review.usecases import CASES, ReviewCases

REPO = Path(__file__).resolve().parent.parent
STATES = [CaseState.OPEN, CaseState.AWAITING_SIGNOFF, CaseState.APPROVED, CaseState.DECLINED]
ASSIGNEES = ["alice", "bob", "carol", "dave", None]
LANGUAGES = ["en", "ru", "de", "fr", "es"]


def _bench_signer() -> Signer:
    """The queue bench publishes nothing: an ephemeral key is enough."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Signer(Ed25519PrivateKey.generate())


def _documents(count: int, action_types: list[str]) -> list[tuple[str, str]]:
    """Real case documents (review's own open_case), varied in the queue's filter fields."""
    from bench.scenarios import submission

    policy = load_policy(REPO / "policy" / "office-actions.yaml")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(7)
    rows: list[tuple[str, str]] = []
    base = submission(0, "queue")
    for n in range(count):
        action = rng.choice(action_types)
        received = start + timedelta(minutes=n)
        sub = base.model_copy(
            update={
                "submission_id": f"R-QUEUE{n:08d}",
                "action_type": action,
                "routed_to": policy.action(action).routed_to,
                "received_at": received,
            }
        )
        case, _ = open_case(sub, policy, received)
        case = case.model_copy(
            update={"state": rng.choice(STATES), "assignee": rng.choice(ASSIGNEES)}
        )
        doc = to_document(case)
        doc["language"] = rng.choice(LANGUAGES)
        body = {k: v for k, v in doc.items() if k not in ("_id", "_version")}
        rows.append((doc["_id"], json.dumps(body, separators=(",", ":"))))
    return rows


async def _never(topic: str, event: CloudEvent) -> None:
    raise AssertionError("the queue benchmark publishes nothing")


async def queue_page(root: Path, count: int = 100_000, queries: int = 300) -> dict[str, Any]:
    path = root / "review-queue.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    policy = load_policy(REPO / "policy" / "office-actions.yaml")
    staff = {m.id: m for m in load_staff(REPO / "deploy" / "demo-staff.yaml", policy).staff}
    cases = ReviewCases(store, OutboxRelay(store, _never), policy, staff.get, _bench_signer())
    await cases.ensure_indexes()  # creates the table and the queue's indexes
    rows = _documents(count, sorted(policy.action_types))
    with sqlite3.connect(path) as db:  # bulk load: set-up only, not what is measured
        db.executemany(f'INSERT INTO "doc_{CASES}" (id, version, body) VALUES (?, 1, ?)', rows)
    db.close()
    del rows  # in review the cases are in the store, not in memory
    heap.settle()  # as review does once started (casework/runtime.py)
    rng = random.Random(11)
    reader = staff["bob"]
    shapes: list[dict[str, Any]] = [
        {"state": "open"},
        {"state": "awaiting-signoff", "action_type": "global-ban"},
        {"assignee": "alice", "language": "ru"},
        {"state": "open", "assignee": "carol", "language": "en"},
        {"action_type": "dmca-takedown", "sort": "opened"},
    ]
    timings: list[float] = []
    try:
        for i in range(queries):
            shape = shapes[i % len(shapes)]
            query = QueueQuery.model_validate({**shape, "limit": 50})
            t0 = time.perf_counter()
            page = await cases.queue(reader, query)
            timings.append((time.perf_counter() - t0) * 1000)
            if page.next_cursor and rng.random() < 0.5:  # and the next page, by its cursor
                t0 = time.perf_counter()
                await cases.queue(reader, query.model_copy(update={"cursor": page.next_cursor}))
                timings.append((time.perf_counter() - t0) * 1000)
    finally:
        await store.close()
    return {
        "cases": count,
        "p50_ms": percentile(timings, 50),
        "p99_ms": percentile(timings, 99),
    }

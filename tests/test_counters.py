"""Fixed-window counters (casework.counters) on every store backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from casework.counters import WindowCounters, window_of
from casework.store import DocumentStore

NOW = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)


async def test_concurrent_counts_from_two_instances_all_land(store: DocumentStore) -> None:
    first, second = WindowCounters(store, "limits"), WindowCounters(store, "limits")
    window = window_of("client", "192.0.2.1", max=25, per_seconds=60, now=NOW)
    await asyncio.gather(*(c.increment(window) for c in [first, second] * 10))
    assert await first.value(window) == 20
    assert not await second.full(window)
    await asyncio.gather(*(first.increment(window) for _ in range(5)))
    assert await second.full(window)


def test_windows_are_fixed_per_key_and_scope_and_keys_are_not_stored() -> None:
    window = window_of("sender", "Someone@Example.org", max=3, per_seconds=60, now=NOW)
    assert window.ends == datetime(2026, 11, 21, 12, 1, tzinfo=UTC)
    assert window.retry_after(NOW) == 30
    same = window_of("sender", "someone@example.org", max=3, per_seconds=60, now=NOW)
    assert same.doc_id == window.doc_id  # case does not make another counter
    assert "example" not in window.doc_id.lower()
    later = window_of(
        "sender", "someone@example.org", max=3, per_seconds=60, now=NOW + timedelta(seconds=30)
    )
    assert later.doc_id != window.doc_id
    other_scope = window_of("client", "someone@example.org", max=3, per_seconds=60, now=NOW)
    assert other_scope.doc_id != window.doc_id


async def test_new_counters_carry_the_given_fields(store: DocumentStore) -> None:
    counters = WindowCounters(store, "throttle", field="failures")
    window = window_of("account", "alice", max=5, per_seconds=900, now=NOW)
    await counters.increment(window, {"purge_at": "T2026"})
    await counters.increment(window, {"purge_at": "ignored on an existing counter"})
    stored = await store.get("throttle", window.doc_id)
    assert stored is not None and stored["failures"] == 2 and stored["purge_at"] == "T2026"


async def test_takes_stop_at_the_limit_across_instances_and_share_writes(
    store: DocumentStore,
) -> None:
    first, second = WindowCounters(store, "limits"), WindowCounters(store, "limits")
    window = window_of("client", "192.0.2.9", max=15, per_seconds=60, now=NOW)
    taken = await asyncio.gather(*(c.take(window) for c in [first, second] * 20))
    assert taken.count(True) == 15
    stored = await store.get("limits", window.doc_id)
    assert stored is not None and stored["count"] == 15
    # 40 takes, far fewer writes: each group of takes waiting on a counter is one write.
    assert stored["_version"] < 15
    assert await first.full(window)
    await first.give_back(window)
    assert await second.take(window) and not await first.take(window)

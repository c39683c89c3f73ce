"""Claims (casework.claims) on the real SQLite store: one live instance at a time does an
effect; a claim whose holder stopped renewing it is taken over once, by one instance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from casework.claims import UNTIL, Claimant, HeldElsewhere, claim, kept, working_on
from casework.store import Document
from casework.store.sqlite import SqliteStore
from tests.support import eventually

RECORDS = "records"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(str(tmp_path / "claims.sqlite3"))
    yield opened
    await opened.close()


def done(doc: Document) -> bool:
    return doc.get("state") == "sent"


async def test_another_live_holder_is_refused_and_the_same_holder_resumes(
    store: SqliteStore,
) -> None:
    clock = Clock()
    one, two = Claimant("notify-1", 15, clock), Claimant("notify-2", 15, clock)
    first = await claim(store, RECORDS, "k", {"state": "sending"}, one, finished=done)
    assert (first.resumed, first.finished) == (False, False)
    with pytest.raises(HeldElsewhere) as refused:
        await claim(store, RECORDS, "k", {"state": "sending"}, two, finished=done)
    assert refused.value.holder == "notify-1"
    again = await claim(store, RECORDS, "k", {"state": "sending"}, one, finished=done)
    assert (again.resumed, again.finished) == (True, False)  # e.g. after its own restart


async def test_a_claim_that_ran_out_is_taken_over_once(store: SqliteStore) -> None:
    clock = Clock()
    dead = Claimant("notify-1", 15, clock)
    await claim(store, RECORDS, "k", {"state": "sending"}, dead, finished=done)
    clock.now += 16  # notify-1 was killed and renewed nothing
    takers = [Claimant(f"notify-{n}", 15, clock) for n in (2, 3, 4)]
    results = await asyncio.gather(
        *(claim(store, RECORDS, "k", {"state": "sending"}, t, finished=done) for t in takers),
        return_exceptions=True,
    )
    taken = [r for r in results if not isinstance(r, BaseException)]
    assert len(taken) == 1 and taken[0].resumed
    assert all(isinstance(r, HeldElsewhere) for r in results if isinstance(r, BaseException))
    doc = await store.get(RECORDS, "k")
    assert doc is not None and doc["holder"] == taken[0].doc["holder"]


async def test_a_finished_record_is_never_claimed_again(store: SqliteStore) -> None:
    clock = Clock()
    one, two = Claimant("notify-1", 15, clock), Claimant("notify-2", 15, clock)
    made = await claim(store, RECORDS, "k", {"state": "sending"}, one, finished=done)
    await store.replace(
        RECORDS, {**made.doc, "state": "sent"}, expected_version=made.doc["_version"]
    )
    seen = await claim(store, RECORDS, "k", {"state": "sending"}, two, finished=done)
    assert seen.finished and seen.doc["holder"] == "notify-1"


async def test_a_record_from_before_claims_is_taken_over(store: SqliteStore) -> None:
    """A `sending` record written by a version without claims names no holder."""
    await store.insert(RECORDS, {"_id": "k", "state": "sending"})
    taken = await claim(store, RECORDS, "k", {}, Claimant("notify-2", 15), finished=done)
    assert taken.resumed and taken.doc["holder"] == "notify-2"


async def test_a_kept_claim_outlives_its_length_while_the_work_runs(store: SqliteStore) -> None:
    clock = Clock()
    one, two = Claimant("notify-1", 0.09, clock), Claimant("notify-2", 0.09, clock)
    await claim(store, RECORDS, "k", {"state": "sending"}, one, finished=done)
    async with kept(store, RECORDS, "k", one, finished=done):
        clock.now += 1.0  # well past the first claim: only renewals keep it

        async def renewed() -> bool:
            doc = await store.get(RECORDS, "k")
            return doc is not None and float(doc[UNTIL]) > clock.now

        await eventually(renewed, timeout=5)
        with pytest.raises(HeldElsewhere):
            await claim(store, RECORDS, "k", {"state": "sending"}, two, finished=done)
    clock.now += 1.0  # renewals stopped with the work: it runs out
    taken = await claim(store, RECORDS, "k", {"state": "sending"}, two, finished=done)
    assert taken.resumed


async def test_working_on_gives_the_claim_up_when_the_work_ends(store: SqliteStore) -> None:
    clock = Clock()
    one, two = Claimant("enforcement-1", 15, clock), Claimant("enforcement-2", 15, clock)
    async with working_on(store, "working", "OA-1", one):
        with pytest.raises(HeldElsewhere):
            async with working_on(store, "working", "OA-1", two):
                raise AssertionError("two instances at work on one case")
    async with working_on(store, "working", "OA-1", two) as taken:
        assert taken.doc["holder"] == "enforcement-2"  # at once, not after 15 s

"""The staff directory in review's store, shared by several instances (issue 8).

Two review apps, each built by the service's own `wire` and served over real HTTP, share
one store: on SQLite one file (as two processes on one host do), and on nx-27017, the
MongoDB wire-protocol server that stands in here for MongoDB (no MongoDB runs on this
machine; `mongo-real` runs where MONGODB_URI is set). An admin change on one instance is
seen by the other within the refresh interval; concurrent changes to one member both
land; the staff file seeds an empty store once; the management command works on the
store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from casework.errors import Rejected
from casework.store import DocumentStore
from services.review.adapters.staff_file import load_staff
from services.review.auth.directory import (
    FULL_RELOAD_SECONDS,
    STAFF,
    STAFF_CHANGES,
    LiveStaff,
    StaffRecords,
    open_directory,
)
from tests.fixtures.stores import Nx27017, reopen
from tests.support import eventually
from tests.test_review_auth_support import DEMO_STAFF, POLICY, ROOT, Review, review_in_process

Json = dict[str, Any]
REFRESH = 0.3  # REVIEW_STAFF_REFRESH_SECONDS for the two-instance tests
BOUND = REFRESH + 5.0  # the refresh interval plus room for a loaded machine
ADAM = "demo-adam-token"
DEMO_IDS = sorted(m.id for m in load_staff(DEMO_STAFF, POLICY).staff)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(params=["sqlite", "mongo-nx27017"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'shared-review.sqlite3'}"
    server: Nx27017 = request.getfixturevalue("nx27017")
    return server.database_url(f"cw_staff_{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def pair(tmp_path: Path, store_url: str) -> AsyncIterator[tuple[Review, Review]]:
    """Two instances of review over one store."""
    async with AsyncExitStack() as stack:
        instances = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            instances.append(
                await stack.enter_async_context(
                    review_in_process(
                        tmp_path / name, store_url=store_url, staff_refresh_seconds=REFRESH
                    )
                )
            )
        yield instances[0], instances[1]


async def call(
    review: Review, method: str, path: str, token: str, body: Json | None = None
) -> tuple[int, Json]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, review.url + path, headers=headers, json=body) as reply:
            return reply.status, await reply.json()


async def answers(review: Review, token: str, status: int) -> bool:
    got, _ = await call(review, "GET", "/api/v1/cases", token)
    return got == status


async def within_bound(probe: Any, what: str) -> float:
    """Wait for ``probe`` (no sleeps), failing after the bound; how long it took."""
    started = time.monotonic()
    await eventually(probe, timeout=BOUND, what=what)
    return time.monotonic() - started


ERIN = {
    "id": "erin",
    "name": "Erin Handler",
    "email": "erin@officeactions.test",
    "roles": ["handler"],
    "levels": ["case-handler"],
    "languages": ["en"],
}


async def test_an_admin_change_on_one_instance_is_seen_by_the_other(
    pair: tuple[Review, Review],
) -> None:
    a, b = pair
    status, _ = await call(a, "POST", "/api/v1/staff", ADAM, ERIN)
    assert status == 201
    status, issued = await call(a, "POST", "/api/v1/staff/erin/tokens", ADAM, {"name": "ci"})
    assert status == 201
    token = issued["token"]
    assert await answers(a, token, 200)  # at once on the instance that made the change

    await within_bound(lambda: answers(b, token, 200), "erin's new token accepted by b")

    async def listed_on_b() -> bool:
        status, listing = await call(b, "GET", "/api/v1/staff", ADAM)
        return status == 200 and "erin" in {m["id"] for m in listing["staff"]}

    await within_bound(listed_on_b, "erin in b's staff list")

    status, _ = await call(a, "DELETE", "/api/v1/staff/erin/tokens/ci", ADAM)
    assert status == 200 and await answers(a, token, 401)
    await within_bound(lambda: answers(b, token, 401), "the revoked token refused by b")

    assert await answers(b, "demo-alice-token", 200)
    status, _ = await call(b, "PUT", "/api/v1/staff/alice/disabled", ADAM, {"disabled": True})
    assert status == 200  # this time the change is made on b
    await within_bound(lambda: answers(a, "demo-alice-token", 401), "disabled alice refused by a")


async def test_concurrent_changes_to_one_member_from_both_instances_all_land(
    pair: tuple[Review, Review],
) -> None:
    a, b = pair
    issues = [
        call(node, "POST", "/api/v1/staff/otto/tokens", ADAM, {"name": f"{label}-{i}"})
        for i in range(4)
        for node, label in ((a, "a"), (b, "b"))
    ]
    settings = call(
        b,
        "PUT",
        "/api/v1/staff/otto",
        ADAM,
        {"roles": ["auditor", "triage"], "levels": [], "languages": ["en", "de"]},
    )
    results = await asyncio.gather(*issues, settings)
    assert [status for status, _ in results] == [201] * 8 + [200], results

    async def everything_on_both() -> bool:
        for node in (a, b):
            _, otto = await call(node, "GET", "/api/v1/staff/otto", ADAM)
            if len(otto["tokens"]) != 9 or otto["roles"] != ["auditor", "triage"]:
                return False
        return True

    await within_bound(everything_on_both, "all nine changes to otto on both instances")
    _, otto = await call(a, "GET", "/api/v1/staff/otto", ADAM)
    issued_names = sorted(f"{x}-{i}" for i in range(4) for x in "ab")
    assert sorted(t["name"] for t in otto["tokens"]) == sorted(["seeded", *issued_names])
    changes = await a.store.find(STAFF_CHANGES, {"target": "otto"})
    assert sorted(c["change"] for c in changes) == ["token-issued"] * 8 + ["updated"]
    for _, issued in results[:8]:
        assert await answers(b, issued["token"], 200)


async def test_the_seed_is_imported_once_and_a_restart_keeps_changed_members(
    tmp_path: Path, store_url: str
) -> None:
    first = tmp_path / "first"
    first.mkdir()
    async with review_in_process(first, store_url=store_url) as review:
        assert [d["_id"] for d in await review.store.find(STAFF, order_by="_id")] == DEMO_IDS
        status, _ = await call(
            review, "PUT", "/api/v1/staff/bob/disabled", ADAM, {"disabled": True}
        )
        assert status == 200
        status, _ = await call(
            review,
            "PUT",
            "/api/v1/staff/alice",
            ADAM,
            {"roles": ["handler", "triage"], "levels": ["case-handler"], "languages": ["fr"]},
        )
        assert status == 200
        before = {d["_id"]: d for d in await review.store.find(STAFF)}

    # The file changed meanwhile and a new instance starts: the store stays the truth.
    second = tmp_path / "second"
    second.mkdir()
    raw = yaml.safe_load(DEMO_STAFF.read_text())
    for entry in raw["staff"]:
        entry["name"] = entry["name"] + " (from the file)"
        entry.pop("disabled", None)
    (second / "staff.yaml").write_text(yaml.safe_dump(raw))
    async with review_in_process(second, store_url=store_url) as again:
        after = {d["_id"]: d for d in await again.store.find(STAFF)}
        assert after == before
        assert after["bob"]["disabled"] is True
        assert after["alice"]["languages"] == ["fr"] and "(from the file)" not in str(after)
        assert await answers(again, "demo-bob-token", 401)
        seeded = await again.store.find(STAFF_CHANGES, {"change": "seeded"})
        assert len(seeded) == 1 and seeded[0]["detail"] == f"{len(DEMO_IDS)} from staff.yaml"


# --- the records and the in-memory directory, on every backend ----------------------------


async def test_two_instances_seeding_at_once_store_each_member_once(
    store: DocumentStore,
) -> None:
    other = await reopen(store)
    try:
        counts = await asyncio.gather(
            StaffRecords(store, POLICY, now).seed(DEMO_STAFF),
            StaffRecords(other, POLICY, now).seed(DEMO_STAFF),
        )
    finally:
        await other.close()
    assert sum(counts) == len(DEMO_IDS)
    assert [d["_id"] for d in await store.find(STAFF, order_by="_id")] == DEMO_IDS
    assert await StaffRecords(store, POLICY, now).seed(DEMO_STAFF) == 0


async def test_a_change_the_policy_does_not_admit_is_refused_and_stores_nothing(
    store: DocumentStore,
) -> None:
    records = StaffRecords(store, POLICY, now)
    await records.seed(DEMO_STAFF)
    before = await store.get(STAFF, "alice")
    revision = await records.revision()
    with pytest.raises(Rejected) as refused:
        await records.change(
            "alice", lambda m: m.model_copy(update={"levels": ["janitor"]}), "adam", "updated", ""
        )
    assert [(e.field, e.rule) for e in refused.value.errors] == [("levels", "policy")]
    assert "unknown sign-off level 'janitor'" in refused.value.errors[0].message
    assert await store.get(STAFF, "alice") == before
    assert await records.revision() == revision
    assert await store.find(STAFF_CHANGES, {"target": "alice"}) == []


async def test_an_audit_entry_a_crash_left_in_the_member_is_copied_on_start(
    store: DocumentStore,
) -> None:
    records = StaffRecords(store, POLICY, now)
    await records.seed(DEMO_STAFF)
    await records.change(
        "carol", lambda m: m.model_copy(update={"disabled": True}), "adam", "disabled", ""
    )
    # As if the process died after the member's write and before the copy to the log.
    [entry] = await store.find(STAFF_CHANGES, {"target": "carol"})
    assert await store.delete(STAFF_CHANGES, entry["_id"])
    revision = await records.revision()
    assert await records.reconcile() == 1
    assert await store.find(STAFF_CHANGES, {"target": "carol"}) == [entry]
    assert await records.revision() > revision
    assert await records.reconcile() == 0


async def test_the_directory_is_reread_only_when_changed_and_the_interval_passed(
    store: DocumentStore,
) -> None:
    clock = [100.0]
    records = StaffRecords(store, POLICY, now)
    await records.seed(DEMO_STAFF)
    live = LiveStaff(records, 1.0, monotonic=lambda: clock[0])
    await live.load()
    other = await reopen(store)
    try:
        elsewhere = StaffRecords(other, POLICY, now)
        await elsewhere.change(
            "dave", lambda m: m.model_copy(update={"disabled": True}), "adam", "disabled", ""
        )
    finally:
        await other.close()
    clock[0] += 0.5
    dave = (await live.fresh()).by_id("dave")
    assert dave is not None and not dave.disabled  # within the interval: memory only
    clock[0] += 0.5
    dave = (await live.fresh()).by_id("dave")
    assert dave is not None and dave.disabled
    loaded = live.current()
    clock[0] += 5
    assert await live.fresh() is loaded  # nothing changed: not re-read


async def test_a_change_whose_counter_bump_was_lost_is_seen_after_the_full_reload(
    store: DocumentStore,
) -> None:
    """A crash between a member's write and the counter's bump: the member changed, the
    counter did not. Other instances still see it within FULL_RELOAD_SECONDS."""
    clock = [100.0]
    records = StaffRecords(store, POLICY, now)
    await records.seed(DEMO_STAFF)
    live = LiveStaff(records, 1.0, monotonic=lambda: clock[0])
    await live.load()
    doc = await store.get(STAFF, "dave")
    assert doc is not None
    await store.replace(STAFF, {**doc, "disabled": True}, expected_version=doc["_version"])
    clock[0] += 5
    dave = (await live.fresh()).by_id("dave")
    assert dave is not None and not dave.disabled  # the counter did not move
    clock[0] += FULL_RELOAD_SECONDS
    dave = (await live.fresh()).by_id("dave")
    assert dave is not None and dave.disabled


async def test_the_service_starts_from_the_store_alone(
    store: DocumentStore, tmp_path: Path
) -> None:
    await StaffRecords(store, POLICY, now).seed(DEMO_STAFF)
    live = await open_directory(store, POLICY, tmp_path / "no-such-file.yaml", 1.0, now)
    assert sorted(m.id for m in live.current().staff) == DEMO_IDS


# --- the management command on the store ---------------------------------------------------


def manage(store_url: str, seed: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "REVIEW_STORE_URL": store_url, "REVIEW_STAFF_FILE": str(seed)}
    return subprocess.run(
        [sys.executable, "-m", "services.review.staff", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=60,
        check=False,
    )


async def test_the_command_imports_a_file_and_overwrites_only_with_replace(
    tmp_path: Path,
) -> None:
    url = f"sqlite://{tmp_path / 'review.sqlite3'}"
    helped = manage(url, DEMO_STAFF, "--help")
    assert helped.returncode == 0
    for command in ("add", "set-password", "issue-token", "revoke-token", "import"):
        assert command in helped.stdout

    # Any command on an empty store first seeds it from the staff file, as the service does.
    assert manage(url, DEMO_STAFF, "revoke-token", "alice", "--name", "nope").returncode == 2
    raw = yaml.safe_load(DEMO_STAFF.read_text())
    alice = next(e for e in raw["staff"] if e["id"] == "alice")
    alice["name"] = "Alice Imported"
    newcomer = {**alice, "id": "gail", "email": "gail@officeactions.test", "name": "Gail"}
    newcomer.pop("tokens", None)
    newcomer.pop("token_sha256", None)
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump({"staff": [alice, newcomer]}))

    refused = manage(url, DEMO_STAFF, "import", str(extra))
    assert refused.returncode == 2
    assert "error: id: already stored: alice (--replace overwrites them)" in refused.stderr
    replaced = manage(url, DEMO_STAFF, "import", str(extra), "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "imported 1 new, replaced 1" in replaced.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"staff": [{**newcomer, "id": "hal", "levels": ["janitor"]}]}))
    invalid = manage(url, DEMO_STAFF, "import", str(bad))
    assert invalid.returncode == 2 and "staff.0.levels: unknown sign-off level" in invalid.stderr

    from casework.store import open_store

    store = await open_store(url)
    try:
        stored = {d["_id"]: d for d in await store.find(STAFF)}
        assert stored["alice"]["name"] == "Alice Imported" and "gail" in stored
        assert "hal" not in stored
        log = await store.find(STAFF_CHANGES, order_by="at")
        assert [(c["target"], c["change"]) for c in log] == [
            ("*", "seeded"),
            ("alice", "replaced"),
            ("gail", "imported"),
        ]
    finally:
        await store.close()

"""The global lock path (CentralAuth ``setglobalaccountstatus`` with ``statecheck``).

CentralAuth cannot run here: it needs a farm sharing a central user database, which the
sandbox wikis (one SQLite database each) do not have. So the requests the client sends are
checked against a recorded contract (tests/data/centralauth/setglobalaccountstatus.json: the
parameters, and the answers CentralAuth documents) by a small aiohttp server that plays the
central wiki; the sitewide blocks of the same decision go to a real sandbox wiki.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from casework.mediawiki import MediaWikiClient
from casework.store.sqlite import SqliteStore
from deploy.sandbox_wiki import SandboxWiki
from services.enforcement.domain import OpKind, OpState
from tests.support import eventually, free_port
from tests.test_enforcement import (
    ALPHA,
    approval,
    client_for,
    make_enforcer,
    ours,
    record_of,
    reversal,
)

CONTRACT = json.loads(
    (Path(__file__).parent / "data" / "centralauth" / "setglobalaccountstatus.json").read_text()
)
USER, PASSWORD = "OfficeActions@casework", "centralauth-contract-password000"
LOGIN_TOKEN = "10000000000000000000000000000000+\\"


@dataclass
class CentralAuth:
    """Plays the central wiki by the recorded contract and remembers every request."""

    locked: bool = False
    conflict_next_write: bool = False
    requests: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def state_hash(self) -> str:
        account = CONTRACT["account"]
        text = f"{account['id']}:{account['name']}:0:{int(self.locked)}"
        return hashlib.md5(text.encode()).hexdigest()

    def expect(self, name: str, params: dict[str, str], method: str) -> None:
        recorded = CONTRACT["requests"][name]
        if method != recorded["method"]:
            self.problems.append(f"{name}: sent with {method}, not {recorded['method']}")
        for key, value in recorded["params"].items():
            if params.get(key) != value:
                self.problems.append(f"{name}: {key}={params.get(key)!r}, expected {value!r}")
        for key in recorded.get("required", []):
            if not params.get(key):
                self.problems.append(f"{name}: {key} missing")

    async def handle(self, request: web.Request) -> web.Response:
        params = dict(request.query) if request.method == "GET" else dict(await request.post())
        self.requests.append(params)
        answers = CONTRACT["answers"]
        action, meta = params.get("action"), params.get("meta")
        if meta == "tokens" and params.get("type") == "login":
            return _json({"query": {"tokens": {"logintoken": LOGIN_TOKEN}}})
        if action == "login":
            ok = (params.get("lgname"), params.get("lgpassword")) == (USER, PASSWORD)
            result = (
                {"result": "Success", "lgusername": "OfficeActions"}
                if ok
                else {
                    "result": "Failed",
                    "reason": "Incorrect username or password entered.",
                }
            )
            return _json({"login": result})
        if meta == "globaluserinfo":
            self.expect("globaluserinfo", params, request.method)
            return _json(
                answers["globaluserinfo_locked" if self.locked else "globaluserinfo_unlocked"]
            )
        if meta == "tokens":
            self.expect("token", params, request.method)
            return _json(answers["token"])
        if action == "setglobalaccountstatus":
            name = "lock" if params.get("locked") == "lock" else "unlock"
            self.expect(name, params, request.method)
            token = answers["token"]["query"]["tokens"]["setglobalaccountstatustoken"]
            if params.get("token") != token:
                return _json({"error": {"code": "badtoken", "info": "Invalid CSRF token."}})
            if self.conflict_next_write:
                self.conflict_next_write = False
                self.locked = not self.locked  # someone else changed it meanwhile
            if params.get("statecheck") != self.state_hash():
                return _json(answers["editconflict"])
            self.locked = name == "lock"
            return _json(answers["locked" if self.locked else "unlocked"])
        self.problems.append(f"unexpected request {params}")
        return _json({"error": {"code": "badvalue", "info": "not in the contract"}})


def _json(body: dict[str, Any]) -> web.Response:
    return web.json_response(body)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(str(tmp_path / "enforcement.sqlite3"))
    yield opened
    await opened.close()


@pytest.fixture
async def central() -> AsyncIterator[tuple[CentralAuth, str]]:
    ca = CentralAuth()
    app = web.Application()
    app.router.add_route("*", "/api.php", ca.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield ca, f"http://127.0.0.1:{port}/api.php"
    await runner.cleanup()


async def test_global_lock_sends_the_recorded_requests_and_reversal_unlocks(
    central: tuple[CentralAuth, str],
    fresh_farm: dict[str, SandboxWiki],
    store: SqliteStore,
) -> None:
    ca, url = central
    alpha = fresh_farm[ALPHA]
    async with (
        client_for(alpha, *alpha.credentials()) as wiki,
        MediaWikiClient(url, USER, PASSWORD, retry_attempts=1) as meta,
    ):
        enforcer = make_enforcer(store, {ALPHA: wiki, "meta": meta}, central_wiki="meta")
        approved = approval("global-lock", "Vandal1", wikis=[ALPHA])
        await enforcer.decision_approved(approved)
        await enforcer.decision_approved(approved)  # redelivered: nothing is sent twice

        record = await record_of(store, approved.case_id)
        assert [(op.wiki, op.kind, op.state) for op in record.operations] == [
            (ALPHA, OpKind.BLOCK, OpState.DONE),
            ("meta", OpKind.GLOBAL_LOCK, OpState.DONE),
        ]
        assert len(await ours(wiki, "Vandal1", approved.case_id)) == 1
        assert ca.locked and ca.problems == []
        [lock] = [r for r in ca.requests if r.get("locked") == "lock"]
        assert approved.case_id in lock["reason"]

        await enforcer.decision_reversed(reversal(approved))
        assert not ca.locked and ca.problems == []
        assert [r["locked"] for r in ca.requests if "locked" in r] == ["lock", "unlock"]


async def test_a_failed_statecheck_is_read_again_and_retried(
    central: tuple[CentralAuth, str],
    fresh_farm: dict[str, SandboxWiki],
    store: SqliteStore,
) -> None:
    ca, url = central
    alpha = fresh_farm[ALPHA]
    async with (
        client_for(alpha, *alpha.credentials()) as wiki,
        MediaWikiClient(url, USER, PASSWORD, retry_attempts=1) as meta,
    ):
        enforcer = make_enforcer(store, {ALPHA: wiki, "meta": meta}, central_wiki="meta")
        ca.conflict_next_write = True  # someone locks it between our read and our write
        approved = approval("global-ban", "Vandal1", wikis=[ALPHA])
        await enforcer.decision_approved(approved)
        lock = (await record_of(store, approved.case_id)).operations[1]
        assert (lock.state, lock.error_code) == (OpState.PLANNED, "editconflict")

        ca.locked = False  # and unlocks it again

        async def due() -> bool:
            record = await record_of(store, approved.case_id)
            return bool(record.runnable(datetime.now(UTC)))

        await eventually(due, what="the lock due for a retry")
        await enforcer.reconcile()
        lock = (await record_of(store, approved.case_id)).operations[1]
        assert lock.state is OpState.DONE and ca.locked and ca.problems == []

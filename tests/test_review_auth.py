"""Staff access: passwords, API tokens, sessions, CSRF, the role and case rules, the access
log and the management command. Review runs in this process over real HTTP and SQLite
(tests/test_review_auth_support.py)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from casework.errors import Kind, Rejected
from casework.http import make_app
from casework.policy.access import AccessRules, Role
from services.review.adapters.staff_file import load_staff
from services.review.adapters.stored import from_document
from services.review.auth.audit import CASE_READS, CaseReads
from services.review.auth.authenticators import SESSION_COOKIE, BearerTokens
from services.review.auth.directory import StaffRecords, open_directory
from services.review.auth.middleware import AccessControl
from services.review.auth.passwords import hash_password, verify_password
from services.review.auth.policy import (
    AccessPolicyError,
    action_name,
    authorize,
    check_access_policy,
)
from services.review.auth.sessions import SESSIONS, SessionStore
from services.review.domain.case import Case
from services.review.domain.opening import case_id_for
from services.review.domain.permissions import Action
from services.review.domain.staff import StaffMember
from tests.review_support import fresh_review_with_a_case  # noqa: F401 (the review fixture)
from tests.support import eventually, free_port
from tests.test_review_auth_support import (
    DEMO_STAFF,
    POLICY,
    ROLES_TO_STAFF,
    ROOT,
    Review,
    receive,
    review_in_process,
    submission,
)

STAFF = load_staff(DEMO_STAFF, POLICY)
CASE_ID = case_id_for("R-ABCDEFGH2345")


def member(staff_id: str) -> StaffMember:
    found = STAFF.by_id(staff_id)
    assert found is not None
    return found


def bearer(staff_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer demo-{staff_id}-token"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def login_token(http: aiohttp.ClientSession, review: Review) -> str:
    """The sign-in form's CSRF token, as a browser gets it: from the form (and a cookie)."""
    async with http.get(f"{review.url}/console/login") as reply:
        found = re.search(r'name="csrf_token" value="([^"]+)"', await reply.text())
    assert found is not None
    return found.group(1)


def post_login(
    http: aiohttp.ClientSession, review: Review, fields: dict[str, str], token: str
) -> Any:
    return http.post(
        f"{review.url}/console/login",
        data={**fields, "csrf_token": token},
        allow_redirects=False,
    )


async def log_in(http: aiohttp.ClientSession, review: Review, login: str, password: str) -> int:
    token = await login_token(http, review)
    fields = {"login": login, "password": password, "next": "/console"}
    async with post_login(http, review, fields, token) as reply:
        return reply.status


def session_cookie(http: aiohttp.ClientSession) -> str:
    for cookie in http.cookie_jar:
        if cookie.key == SESSION_COOKIE:
            return cookie.value
    raise AssertionError("no session cookie")


async def csrf_of(review: Review, cookie: str) -> str:
    doc = await review.store.get(SESSIONS, hashlib.sha256(cookie.encode()).hexdigest())
    assert doc is not None
    return str(doc["csrf_token"])


async def stored_case(review: Review) -> Case:
    doc = await review.store.get("cases", CASE_ID)
    assert doc is not None
    return from_document(doc)


# --- passwords ---------------------------------------------------------------------------


def test_a_password_hash_verifies_only_its_password_and_is_salted() -> None:
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first != second and first.startswith("scrypt$15$8$1$")
    assert verify_password("correct horse battery", first)
    assert not verify_password("correct horse batter", first)
    assert not verify_password("anything", None)
    assert not verify_password("anything", "scrypt$99$8$1$AAAA$AAAA")
    assert not verify_password("anything", "md5$abc")


def test_demo_staff_have_a_role_and_password_each() -> None:
    roles = {role for m in STAFF.staff for role in m.roles}
    assert roles == set(Role)
    for staff_id in ROLES_TO_STAFF.values():
        assert member(staff_id).check_password(f"demo-{staff_id}-password")
        assert not member(staff_id).check_password(f"demo-{staff_id}-token")
    assert "password_hash" not in member("alice").public()
    assert "scrypt" not in repr(member("alice"))


# --- authorisation (pure) ----------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_each_role_may_do_exactly_its_policy_actions(role: Role) -> None:
    staff = member(ROLES_TO_STAFF[role])
    granted = set(POLICY.access.roles[role].actions)
    for action in Action:
        if action_name(action) in granted:
            authorize(staff, action, rules=POLICY.access)
        else:
            with pytest.raises(Rejected) as refused:
                authorize(staff, action, rules=POLICY.access)
            assert refused.value.kind is Kind.FORBIDDEN
            assert refused.value.errors[0].field == "action"
            assert action_name(action) in refused.value.errors[0].message


def test_the_auditor_is_read_only() -> None:
    assert set(POLICY.access.roles[Role.AUDITOR].actions) == {"read-queue", "read-case"}


def test_staff_without_roles_may_do_nothing() -> None:
    nobody = member("alice").model_copy(update={"roles": []})
    with pytest.raises(Rejected, match="none"):
        authorize(nobody, Action.READ_QUEUE, rules=POLICY.access)


async def test_staff_named_in_an_abuse_report_cannot_read_the_case(tmp_path: Path) -> None:
    async with review_in_process(tmp_path) as running:
        await receive(running, submission("R-NAMEDSTAFF23", named_staff=["bob", "Dave WMF"]))
        doc = await running.store.get("cases", case_id_for("R-NAMEDSTAFF23"))
        assert doc is not None
        case = from_document(doc)
        for staff in (
            member("bob"),
            member("dave").model_copy(update={"wiki_accounts": ["Dave_WMF"]}),
        ):
            with pytest.raises(Rejected) as refused:
                authorize(staff, Action.READ_CASE, case, rules=POLICY.access)
            assert refused.value.kind is Kind.FORBIDDEN
            assert refused.value.errors[0].rule == "not_named_staff"
        authorize(member("carol"), Action.READ_CASE, case, rules=POLICY.access)
        authorize(member("dave"), Action.READ_CASE, case, rules=POLICY.access)


async def test_a_restricted_team_hides_its_cases_from_other_roles(review: Review) -> None:
    case = await stored_case(review)
    rules = POLICY.access.model_copy(
        update={"restricted_teams": {case.routed_to: [Role.LEGAL, Role.AUDITOR]}}
    )
    with pytest.raises(Rejected) as refused:
        authorize(member("alice"), Action.READ_CASE, case, rules=rules)
    assert refused.value.errors[0].rule == "team_restricted"
    authorize(member("carol"), Action.READ_CASE, case, rules=rules)
    authorize(member("otto"), Action.READ_CASE, case, rules=rules)


def test_the_access_policy_must_name_known_actions_and_teams() -> None:
    check_access_policy(POLICY)
    roles = dict(POLICY.access.roles)
    roles[Role.TRIAGE] = roles[Role.TRIAGE].model_copy(update={"actions": ["read-queue", "fly"]})
    bad = POLICY.model_copy(update={"access": POLICY.access.model_copy(update={"roles": roles})})
    with pytest.raises(AccessPolicyError, match=r"access\.roles\.triage\.actions\[1\]: .*'fly'"):
        check_access_policy(bad)
    teams = POLICY.access.model_copy(update={"restricted_teams": {"nobody": [Role.LEGAL]}})
    with pytest.raises(AccessPolicyError, match=r"access\.restricted_teams\.nobody"):
        check_access_policy(POLICY.model_copy(update={"access": teams}))


def test_a_staff_file_naming_a_role_without_rules_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEMO_STAFF.read_text())
    raw["staff"][0]["roles"] = ["janitor"]
    path = tmp_path / "staff.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(Exception, match=r"staff\.0\.roles"):
        load_staff(path, POLICY)
    no_rules = POLICY.model_copy(update={"access": AccessRules()})
    with pytest.raises(Exception, match=r"staff\.0\.roles: role 'handler' has no rules"):
        load_staff(DEMO_STAFF, no_rules)


# --- sign-in and sessions -----------------------------------------------------------------


async def test_a_wrong_password_is_refused_without_a_session(
    review: Review, http: aiohttp.ClientSession
) -> None:
    for login, password in [("alice", "demo-bob-password"), ("nobody", "demo-alice-password")]:
        token = await login_token(http, review)
        fields = {"login": login, "password": password}
        async with post_login(http, review, fields, token) as reply:
            assert reply.status == 401
            assert "wrong login or password" in await reply.text()
            assert SESSION_COOKIE not in reply.cookies
    assert await review.store.find(SESSIONS) == []


async def test_login_starts_a_server_side_session_with_a_safe_cookie(
    review: Review, http: aiohttp.ClientSession
) -> None:
    token = await login_token(http, review)
    fields = {"login": "Alice@OfficeActions.test", "password": "demo-alice-password"}
    async with post_login(http, review, fields, token) as reply:
        assert reply.status == 303
        assert reply.headers["Location"] == "/console"
        header = reply.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header
    cookie = session_cookie(http)
    sessions = await review.store.find(SESSIONS)
    assert [s["staff_id"] for s in sessions] == ["alice"]
    assert sessions[0]["_id"] == hashlib.sha256(cookie.encode()).hexdigest()
    assert cookie not in str(sessions[0])
    async with http.get(f"{review.url}/console") as reply:
        assert reply.status == 200, await reply.text()
        assert 'data-staff="alice"' in await reply.text()


async def test_login_redirects_only_inside_the_console(
    review: Review, http: aiohttp.ClientSession
) -> None:
    for target, expected in [("https://evil.test/", "/console"), ("//evil.test", "/console")]:
        token = await login_token(http, review)
        fields = {"login": "alice", "password": "demo-alice-password", "next": target}
        async with post_login(http, review, fields, token) as reply:
            assert reply.headers["Location"] == expected


async def test_a_sign_in_without_the_form_s_csrf_token_is_refused(
    review: Review, http: aiohttp.ClientSession
) -> None:
    fields = {"login": "alice", "password": "demo-alice-password"}
    async with post_login(http, review, fields, "made-up") as reply:
        assert reply.status == 403
        assert "csrf_token" in await reply.text()
    token = await login_token(http, review)
    async with aiohttp.ClientSession() as other:  # the token without its cookie
        async with post_login(other, review, fields, token) as reply:
            assert reply.status == 403
    assert await review.store.find(SESSIONS) == []
    async with post_login(http, review, fields, token) as reply:
        assert reply.status == 303


async def test_logout_needs_the_csrf_token_and_ends_the_session(
    review: Review, http: aiohttp.ClientSession
) -> None:
    assert await log_in(http, review, "alice", "demo-alice-password") == 303
    cookie = session_cookie(http)
    async with http.post(f"{review.url}/console/logout", allow_redirects=False) as reply:
        assert reply.status == 403
        assert "csrf_token" in await reply.text()
    async with http.get(f"{review.url}/console") as reply:
        assert reply.status == 200
    csrf = await csrf_of(review, cookie)
    async with http.post(
        f"{review.url}/console/logout", data={"csrf_token": csrf}, allow_redirects=False
    ) as reply:
        assert reply.status == 303
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as replay:
        async with replay.get(f"{review.url}/console", allow_redirects=False) as reply:
            assert reply.status == 303
            assert reply.headers["Location"].startswith("/console/login?next=")


async def test_a_console_post_without_the_csrf_token_changes_nothing(
    review: Review, http: aiohttp.ClientSession
) -> None:
    assert await log_in(http, review, "alice", "demo-alice-password") == 303
    before = await review.store.get("cases", CASE_ID)
    form = {
        "action_type": "global-ban",
        "subject_account": "Troublesome Editor",
        "grounds": "tou-4-harassment",
        "public_rationale": "Sustained harassment.",
    }
    url = f"{review.url}/console/cases/{CASE_ID}/decision"
    for forged in ({}, {"csrf_token": "forged"}):
        async with http.post(url, data={**form, **forged}, allow_redirects=False) as reply:
            assert reply.status == 403
            assert "csrf_token" in await reply.text()
    async with http.put(
        f"{review.url}/api/v1/cases/{CASE_ID}/decision", json={}, headers={"X-CSRF-Token": "x"}
    ) as reply:
        assert reply.status == 403
        assert (await reply.json())["error"] == "csrf_failed"
    assert await review.store.get("cases", CASE_ID) == before
    csrf = await csrf_of(review, session_cookie(http))
    async with http.post(url, data={**form, "csrf_token": csrf}, allow_redirects=False) as reply:
        assert reply.status == 303, await reply.text()
    after = await stored_case(review)
    assert after.decision is not None and after.decision.public_rationale == "Sustained harassment."


async def test_an_expired_session_is_refused(review: Review) -> None:
    sessions = SessionStore(review.store, timedelta(hours=1))
    cookie, _ = await sessions.start("alice", datetime.now(UTC) - timedelta(hours=2))
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as http:
        async with http.get(f"{review.url}/api/v1/cases") as reply:
            assert reply.status == 401
        async with http.get(f"{review.url}/console", allow_redirects=False) as reply:
            assert reply.status == 303


# --- tokens, the access log, fail-closed routes ------------------------------------------


async def test_requests_without_or_with_a_wrong_token_are_401(review: Review) -> None:
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
            async with http.get(f"{review.url}/api/v1/cases", headers=headers) as reply:
                assert reply.status == 401
                assert (await reply.json())["error"] == "unauthenticated"


async def test_every_case_read_is_logged_and_refusals_are_not(review: Review) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{review.url}/api/v1/cases/{CASE_ID}", headers=bearer("otto")) as r:
            assert r.status == 200
        async with http.get(f"{review.url}/api/v1/cases/{CASE_ID}", headers=bearer("adam")) as r:
            assert r.status == 403
        async with http.get(f"{review.url}/api/v1/cases", headers=bearer("alice")) as r:
            assert r.status == 200
    reads = await CaseReads(review.store).of_case(CASE_ID)
    assert [(r.staff_id, r.via, r.path) for r in reads] == [
        ("otto", "api", f"/api/v1/cases/{CASE_ID}")
    ]
    assert len(await review.store.find(CASE_READS)) == 1


async def test_a_route_without_an_access_rule_is_refused_to_everyone(tmp_path: Path) -> None:
    app = make_app(registry=__import__("prometheus_client").CollectorRegistry(), health_checks={})

    async def secret(request: web.Request) -> web.Response:
        return web.json_response({"secret": True})

    app.router.add_get("/api/v1/unruled", secret)
    from casework.store import open_store

    store = await open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    staff = await open_directory(store, POLICY, DEMO_STAFF, 1.0, lambda: datetime.now(UTC))
    app.middlewares.append(
        AccessControl([BearerTokens(staff)], POLICY.access, CaseReads(store)).middleware
    )
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"http://127.0.0.1:{server.port}/api/v1/unruled", headers=bearer("bob")
            ) as reply:
                body = await reply.json()
                assert reply.status == 403
                assert body["error"] == "no_access_rule"
            async with http.get(f"http://127.0.0.1:{server.port}/healthz") as reply:
                assert reply.status == 200
    finally:
        await server.close()
        await store.close()


# --- the management command ---------------------------------------------------------------


def manage(review: Review, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The management command, on the running service's store (as an operator runs it:
    the service's settings from the environment)."""
    environment = {
        **os.environ,
        "REVIEW_STORE_URL": review.store_url,
        "REVIEW_STAFF_FILE": str(review.staff_file),
    }
    return subprocess.run(
        [sys.executable, "-m", "services.review.staff", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=60,
        check=False,
    )


async def test_the_management_command_adds_staff_sets_passwords_and_issues_tokens(
    review: Review,
) -> None:
    added = manage(
        review,
        "add",
        "zara",
        "--name",
        "Zara Legal",
        "--email",
        "zara@officeactions.test",
        "--role",
        "legal",
        "--level",
        "legal-counsel",
        "--language",
        "en",
        "--language",
        "ru",
    )
    assert added.returncode == 0, added.stderr
    assert (
        manage(
            review, "add", "zara", "--name", "Z", "--email", "z@x.test", "--language", "en"
        ).stderr.strip()
        == "error: id: staff 'zara' already exists"
    )
    janitor = manage(
        review,
        "add",
        "yan",
        "--name",
        "Y",
        "--email",
        "y@x.test",
        "--language",
        "en",
        "--level",
        "janitor",
    )
    assert janitor.returncode == 2 and "error: levels: unknown sign-off level 'janitor'" in (
        janitor.stderr
    )
    short = manage(review, "set-password", "zara", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "password: at least 12 characters" in short.stderr
    assert (
        manage(
            review, "set-password", "zara", "--password-stdin", stdin="a long enough secret\n"
        ).returncode
        == 0
    )
    issued = manage(review, "issue-token", "zara", "--name", "nightly-report")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    stored = str(await review.store.find("staff"))
    assert token not in stored and "a long enough secret" not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert "zara" not in review.staff_file.read_text()  # the store changed, not the file
    records = StaffRecords(review.store, POLICY, lambda: datetime.now(UTC))
    zara = await records.get("zara")
    assert zara is not None and zara.roles == [Role.LEGAL]
    assert zara.check_password("a long enough secret")
    [nightly] = zara.tokens  # 90 days unless --expires-on says otherwise
    assert nightly.expires_at is not None
    assert nightly.expires_at.date() == datetime.now(UTC).date() + timedelta(days=91)
    changes = await review.store.find("staff_changes", {"target": "zara"}, order_by="at")
    assert [c["change"] for c in changes] == ["added", "password-set", "token-issued"]
    assert all(c["actor"].startswith("cli") for c in changes)
    page = f"{review.url}/console/cases/{CASE_ID}"
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {token}"}

        async def status() -> int:
            async with http.get(page, headers=headers, allow_redirects=False) as reply:
                return reply.status

        async def works() -> bool:
            return await status() == 200

        async def refused() -> bool:
            return await status() == 303

        await eventually(works, timeout=10, what="the CLI's token accepted by the service")
        assert manage(review, "revoke-token", "zara", "--name", "nightly-report").returncode == 0
        await eventually(refused, timeout=10, what="the revoked token refused")
    unknown = manage(review, "issue-token", "nobody", "--name", "x")
    assert unknown.returncode == 2 and "no staff member 'nobody'" in unknown.stderr


async def test_named_staff_get_no_page_and_reads_are_logged_per_channel(tmp_path: Path) -> None:
    async with review_in_process(tmp_path) as running:
        await receive(running, submission("R-NAMEDBOB2345", named_staff=["bob"]))
        case_id = case_id_for("R-NAMEDBOB2345")
        async with aiohttp.ClientSession() as http:
            for path in (f"/console/cases/{case_id}", f"/api/v1/cases/{case_id}"):
                async with http.get(running.url + path, headers=bearer("bob")) as reply:
                    assert reply.status == 404, path  # hidden: bob does not learn it exists
                async with http.get(running.url + path, headers=bearer("carol")) as reply:
                    assert reply.status == 200, path
            async with http.get(f"{running.url}/console", headers=bearer("bob")) as reply:
                assert case_id not in await reply.text()
        reads = await CaseReads(running.store).of_case(case_id)
        assert sorted((r.staff_id, r.via) for r in reads) == [
            ("carol", "api"),
            ("carol", "console"),
        ]


async def test_the_management_command_lists_and_revokes_seeded_tokens(
    review: Review, http: aiohttp.ClientSession
) -> None:
    """Issue 14 item 6 from the command line: the staff file's token is listed by name
    with its times, and revoking it is refused by the running service within
    REVIEW_STAFF_REFRESH_SECONDS (1 s here)."""
    bearer = {"Authorization": "Bearer demo-dave-token"}
    async with http.get(f"{review.url}/api/v1/cases", headers=bearer) as reply:
        assert reply.status == 200
    listed = manage(review, "list-tokens", "dave")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.strip().splitlines()
    assert header.split() == ["NAME", "CREATED", "BY", "LAST", "USED", "EXPIRES"]
    assert row.split()[0] == "seeded" and "staff.yaml" in row
    assert row.split()[-1] == "never"  # seeded from the staff file: no expiry kept
    assert "demo-dave-token" not in listed.stdout
    revoked = manage(review, "revoke-token", "dave", "--name", "seeded")
    assert revoked.returncode == 0, revoked.stderr

    async def refused() -> bool:
        async with http.get(f"{review.url}/api/v1/cases", headers=bearer) as reply:
            return reply.status == 401

    await eventually(refused, timeout=5, what="the revoked seeded token to be refused")
    assert "has no API tokens" in manage(review, "list-tokens", "dave").stdout

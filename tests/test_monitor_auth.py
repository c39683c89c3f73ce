"""Staff access to the monitor: review-signed assertions (casework.assertions).

Real parts: the monitor as its own process over its own Tansu broker (trusting the test
session's review key), review in process for POST /api/v1/assertions, and for the
hand-off the whole stack (every service its own process) in a real headless Chromium.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from playwright.async_api import Browser

from casework import assertions
from casework.contract import EnforcementFailed, TamperingDetected
from casework.kafka import EventPublisher, KafkaSettings
from casework.signing import Signer
from deploy.broker import TansuBroker
from deploy.stack import ServiceProcess
from services.monitor.domain.redaction import WITHHELD
from services.monitor.entrypoints.web.access import PAGE_HEADERS, SESSION_COOKIE
from services.monitor.settings import MonitorSettings
from tests.examples import like
from tests.fixtures.browser import artefact_path
from tests.fixtures.keys import install_keys, trusted_keys, untrusted_signer
from tests.fixtures.keys import session_signer as review_signer
from tests.fixtures.stack import Stack
from tests.support import eventually, free_port
from tests.test_monitor import publish
from tests.test_review_auth_support import review_in_process

REVIEW_URL = "http://review.example.test"
SECRET_PAGE = "Secret child safety page"


def token(
    roles: tuple[str, ...] = ("ops",),
    *,
    audience: str = "monitor",
    signer: Signer | None = None,
    now: datetime | None = None,
    staff_id: str = "olga",
) -> str:
    issued, _ = assertions.issue(
        (signer or review_signer()).private_key,
        staff_id=staff_id,
        roles=roles,
        audience=audience,
        now=now or datetime.now(UTC),
    )
    return issued


@pytest.fixture(scope="module")
def broker() -> Iterator[TansuBroker]:
    own = TansuBroker(free_port())
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture(scope="module")
def monitor(
    broker: TansuBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    data_dir = tmp_path_factory.mktemp("monitor-auth")
    install_keys(data_dir)
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "KAFKA_SESSION_TIMEOUT_MS": "1500",
        "CASEWORK_DATA_DIR": str(data_dir),
        "MONITOR_PORT": str(port),
        "MONITOR_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "REVIEW_PUBLIC_URL": REVIEW_URL,
        "MONITOR_QUIET_SECONDS": "0",
    }
    process = ServiceProcess("monitor", port, {**os.environ, **env}, Path(data_dir) / "logs")
    process.start()
    try:
        process.wait_healthy(60)
        yield process
    finally:
        process.stop()


@pytest.fixture
def publisher_settings(broker: TansuBroker) -> KafkaSettings:
    """The shared publisher fixture publishes on this module's own broker."""
    return broker.settings(client_id="auth-pub")


async def get(
    http: aiohttp.ClientSession, url: str, bearer: str | None = None, **kwargs: Any
) -> tuple[int, dict[str, str], str]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    async with http.get(url, headers=headers, allow_redirects=False, **kwargs) as reply:
        return reply.status, dict(reply.headers), await reply.text()


# --- the JSON API ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("why", "make"),
    [
        ("none", lambda: None),
        ("garbage", lambda: "not-a-token"),
        ("for notify", lambda: token(audience="notify")),
        ("expired", lambda: token(now=datetime.now(UTC) - timedelta(minutes=11))),
        ("not yet valid", lambda: token(now=datetime.now(UTC) + timedelta(minutes=5))),
        ("signed by a key review does not hold", lambda: token(signer=untrusted_signer())),
        ("tampered", lambda: token()[:-4] + "AAAA"),
    ],
)
async def test_the_api_refuses_without_a_valid_assertion(
    monitor: ServiceProcess,
    http: aiohttp.ClientSession,
    why: str,
    make: Callable[[], str | None],
) -> None:
    # Made when the test runs, not when it is collected: a long run would otherwise
    # reach the "not yet valid" token's start time before the test does.
    bearer = make()
    for path in ("/api/summary", "/api/cases/OA-ANY"):
        status, _, body = await get(http, f"{monitor.url}{path}", bearer)
        assert status == 401, (why, path, body)
        error = json.loads(body)
        assert error["error"] == "unauthenticated"
        assert [e["field"] for e in error["errors"]] == ["Authorization"]
        assert "OA-" not in body.replace("OA-ANY", "")


async def test_the_api_refuses_a_role_the_policy_does_not_allow(
    monitor: ServiceProcess, http: aiohttp.ClientSession
) -> None:
    status, _, body = await get(http, f"{monitor.url}/api/summary", token(("handler",)))
    assert status == 403 and "role_allows" in body


async def test_ops_reads_the_api_and_health_and_metrics_stay_public(
    monitor: ServiceProcess, http: aiohttp.ClientSession
) -> None:
    status, headers, _ = await get(http, f"{monitor.url}/api/summary", token())
    assert status == 200 and headers["Cache-Control"] == "no-store"
    for path in ("/healthz", "/livez", "/metrics"):
        status, _, _ = await get(http, f"{monitor.url}{path}")
        assert status == 200, path


# --- pages and the hand-off -----------------------------------------------------------------


async def test_a_page_without_a_session_goes_to_reviews_handoff(
    monitor: ServiceProcess, http: aiohttp.ClientSession
) -> None:
    for path in ("/?lang=ru", "/live", "/events"):
        status, headers, _ = await get(http, f"{monitor.url}{path}")
        assert status == 303, path
        target = urlsplit(headers["Location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == (
            f"{REVIEW_URL}/console/handoff"
        )
        query = parse_qs(target.query)
        assert query["audience"] == ["monitor"]
        assert query["return"] == [f"{monitor.url}{path}"]


async def test_the_callback_keeps_the_assertion_in_a_strict_cookie(
    monitor: ServiceProcess, http: aiohttp.ClientSession
) -> None:
    back = f"{monitor.url}/?lang=en"
    url = f"{monitor.url}/auth/callback?" + urlencode({"token": token(), "return": back})
    status, headers, _ = await get(http, url)
    assert status == 303 and headers["Location"] == "/?lang=en"
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https public URLs get Secure
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert 0 < max_age <= 600  # never longer than the assertion
    # The page with that cookie: the dashboard, with the page security headers.
    session = cookie.split(";")[0].split("=", 1)[1]
    status, headers, html = await get(http, f"{monitor.url}/", cookies={SESSION_COOKIE: session})
    assert status == 200 and 'id="live"' in html
    for name, value in PAGE_HEADERS.items():
        assert headers[name] == value
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "back", ["https://evil.example/", "//evil.example/", f"{REVIEW_URL}/", "javascript:alert(1)"]
)
async def test_the_callback_never_sends_the_browser_elsewhere(
    monitor: ServiceProcess, http: aiohttp.ClientSession, back: str
) -> None:
    url = f"{monitor.url}/auth/callback?" + urlencode({"token": token(), "return": back})
    status, headers, _ = await get(http, url)
    assert status == 303 and headers["Location"] == "/"


async def test_the_callback_refuses_bad_tokens_and_wrong_roles(
    monitor: ServiceProcess, http: aiohttp.ClientSession
) -> None:
    cases = [
        (token(signer=untrusted_signer()), 401),
        (token(audience="notify"), 401),
        ("", 401),
        (token(("handler",), staff_id="alice"), 403),
    ]
    for bad, expected in cases:
        url = f"{monitor.url}/auth/callback?" + urlencode({"token": bad, "return": "/"})
        status, headers, _ = await get(http, url)
        assert status == expected
        assert "Set-Cookie" not in headers
    # A session cookie holding a wrong role's assertion: 403, not the dashboard.
    status, _, html = await get(
        http, f"{monitor.url}/", cookies={SESSION_COOKIE: token(("auditor", "handler"))}
    )
    assert status == 200  # auditors may watch
    status, _, html = await get(
        http, f"{monitor.url}/", cookies={SESSION_COOKIE: token(("handler",))}
    )
    assert status == 403 and 'id="live"' not in html


# --- confidential cases -----------------------------------------------------------------------


async def test_confidential_case_details_only_for_the_roles_the_policy_names(
    monitor: ServiceProcess, publisher: EventPublisher, http: aiohttp.ClientSession
) -> None:
    """A child-protection case's failure names the page; ops see that it failed, not where."""
    case_id = f"OA-{uuid.uuid4().hex[:12].upper()}"
    plain_id = f"OA-{uuid.uuid4().hex[:12].upper()}"
    now = datetime.now(UTC)
    await publish(
        publisher,
        like("CaseOpened", case_id=case_id, action_type="child-protection", opened_at=now),
    )
    await publish(publisher, like("CaseOpened", case_id=plain_id, opened_at=now))
    for case in (case_id, plain_id):
        failed = like(
            "EnforcementFailed", case_id=case, target=f"{SECRET_PAGE} {case}", failed_at=now
        )
        assert isinstance(failed, EnforcementFailed)
        await publish(publisher, failed)
    tampering = like(
        "TamperingDetected",
        case_id=case_id,
        tampering_id=f"t-{case_id}",
        target=SECRET_PAGE,
        performer="Someone Nosy",
        detected_at=now,
    )
    assert isinstance(tampering, TamperingDetected)
    await publish(publisher, tampering)

    async def summary_of(roles: tuple[str, ...]) -> dict[str, Any] | None:
        status, _, body = await get(http, f"{monitor.url}/api/summary", token(roles))
        assert status == 200
        found = json.loads(body)
        rows = {f["case_id"] for f in found["failed"]}
        seen = {t["case_id"] for t in found["tampering"]}
        return found if {case_id, plain_id} <= rows and case_id in seen else None

    ops = await eventually(lambda: summary_of(("ops",)), what="both failures on the monitor")
    body = json.dumps(ops)
    assert SECRET_PAGE not in body.replace(f"{SECRET_PAGE} {plain_id}", "")
    assert "Someone Nosy" not in body
    [hidden] = [f for f in ops["failed"] if f["case_id"] == case_id]
    assert hidden["what"] == WITHHELD
    [shown] = [f for f in ops["failed"] if f["case_id"] == plain_id]
    assert f"{SECRET_PAGE} {plain_id}" in shown["what"]
    # The same for the page and its live fragment.
    for path in ("/", "/live"):
        status, _, html = await get(http, f"{monitor.url}{path}", cookies={SESSION_COOKIE: token()})
        assert status == 200 and f"{SECRET_PAGE} {plain_id}" in html
        assert f"{SECRET_PAGE} {case_id}" not in html and "Someone Nosy" not in html
    # Legal counsel (access.confidential_roles) sees the details.
    legal = await summary_of(("legal",))
    assert legal is not None
    [full] = [f for f in legal["failed"] if f["case_id"] == case_id]
    assert f"{SECRET_PAGE} {case_id}" in full["what"]
    # Metrics are aggregates: no case id, no page title, no performer.
    status, _, metrics = await get(http, f"{monitor.url}/metrics")
    assert status == 200
    for secret in (case_id, plain_id, SECRET_PAGE, "Someone Nosy"):
        assert secret not in metrics


# --- review issues the assertions -------------------------------------------------------------


async def test_review_issues_assertions_to_the_roles_the_policy_allows(tmp_path: Path) -> None:
    async with review_in_process(tmp_path) as review, aiohttp.ClientSession() as http:
        url = f"{review.url}/api/v1/assertions"

        async def ask(staff: str | None, body: Any) -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer demo-{staff}-token"} if staff else {}
            async with http.post(url, json=body, headers=headers) as reply:
                return reply.status, await reply.json()

        status, answer = await ask("olga", {"audience": "monitor"})
        assert status == 200
        verified = assertions.verify(
            answer["token"], trusted_keys().keys, audience="monitor", now=datetime.now(UTC)
        )
        assert verified.staff_id == "olga" and verified.roles == ("ops",)
        assert verified.expires_at == datetime.fromisoformat(answer["expires_at"])
        assert verified.expires_at - verified.issued_at <= timedelta(minutes=10)
        status, answer = await ask("carol", {"audience": "notify"})
        assert status == 200
        for staff, body, expected, rule in [
            (None, {"audience": "monitor"}, 401, "staff_identity"),
            ("olga", {"audience": "notify"}, 403, "role_allows"),  # ops read no cases
            ("alice", {"audience": "monitor"}, 403, "role_allows"),  # handlers do not watch
            ("olga", {"audience": "review"}, 422, "literal_error"),
            ("olga", {"audience": "monitor", "roles": ["legal"]}, 422, "extra_forbidden"),
            ("olga", {}, 422, "missing"),
        ]:
            status, answer = await ask(staff, body)
            assert status == expected, (staff, body, answer)
            assert set(answer) == {"error", "message", "errors"}
            assert rule in [e["rule"] for e in answer["errors"]], answer


# --- the hand-off in a real browser, over the whole stack -------------------------------------


@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_console_handoff_in_chromium(browser: Browser, stack: Stack) -> None:
    monitor, review = stack.url("monitor"), stack.url("review")
    context = await browser.new_context(locale="en-GB")
    try:
        page = await context.new_page()
        # Unauthenticated: the monitor sends the browser to review, which asks to sign in.
        await page.goto(f"{monitor}/?lang=en")
        assert page.url.startswith(f"{review}/console/login?next=")
        assert "next=/console/handoff" in page.url
        await page.fill("#login", "olga")
        await page.fill("#password", "demo-olga-password")
        await page.click("#sign-in")
        # Signed in: the hand-off page brings olga back to the dashboard she asked for.
        await page.wait_for_url(f"{monitor}/?lang=en", timeout=30_000)
        await page.wait_for_selector("#connection.on", timeout=30_000)
        cookies = {c["name"]: c for c in await context.cookies(monitor)}
        assert cookies[SESSION_COOKIE]["httpOnly"] and cookies[SESSION_COOKIE]["sameSite"] == "Lax"
        await page.screenshot(path=str(artefact_path("monitor-handoff.png")), full_page=True)
        # A hand-off that would return elsewhere is refused by review.
        reply = await page.goto(
            f"{review}/console/handoff?"
            + urlencode({"audience": "monitor", "return": "https://evil.example/"})
        )
        assert reply is not None and reply.status == 422
        assert page.url.startswith(review)
    finally:
        await context.close()
    # A case handler signs in to review fine but may not watch: 403, no dashboard.
    context = await browser.new_context(locale="en-GB")
    try:
        page = await context.new_page()
        await page.goto(f"{monitor}/")
        await page.fill("#login", "alice")
        await page.fill("#password", "demo-alice-password")
        await page.click("#sign-in")
        await page.wait_for_url(f"{review}/console/handoff**", timeout=30_000)
        reply = await page.reload()
        assert reply is not None and reply.status == 403
        assert "not for alice" in await page.content()
        assert SESSION_COOKIE not in {c["name"] for c in await context.cookies(monitor)}
        reply = await page.goto(f"{monitor}/api/summary")
        assert reply is not None and reply.status == 401
    finally:
        await context.close()


async def test_review_handoff_goes_only_to_the_monitor(tmp_path: Path) -> None:
    """The hand-off's page leads to the monitor's callback (MONITOR_PUBLIC_URL, default
    http://127.0.0.1:8085) with a fresh assertion; any other return address is refused."""
    monitor = "http://127.0.0.1:8085"
    async with review_in_process(tmp_path) as review, aiohttp.ClientSession() as http:

        async def handoff(staff: str, back: str) -> tuple[int, dict[str, str], str]:
            query = urlencode({"audience": "monitor", "return": back})
            headers = {"Authorization": f"Bearer demo-{staff}-token"}
            async with http.get(
                f"{review.url}/console/handoff?{query}", headers=headers, allow_redirects=False
            ) as reply:
                return reply.status, dict(reply.headers), await reply.text()

        status, headers, page = await handoff("olga", f"{monitor}/?lang=ru")
        assert status == 200 and headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "no-referrer"
        href = page.split('id="continue" href="')[1].split('"')[0].replace("&amp;", "&")
        target = urlsplit(href)
        assert f"{target.scheme}://{target.netloc}{target.path}" == f"{monitor}/auth/callback"
        query = parse_qs(target.query)
        assert query["return"] == [f"{monitor}/?lang=ru"]
        [signed] = query["token"]
        verified = assertions.verify(
            signed, trusted_keys().keys, audience="monitor", now=datetime.now(UTC)
        )
        assert verified.staff_id == "olga"
        for back in (
            "https://evil.example/",
            "http://127.0.0.1:8085.evil.example/",
            "http://user@127.0.0.1:8085/",
            "//127.0.0.1:8085/",
            "/console",
        ):
            status, _, page = await handoff("olga", back)
            assert status == 422, back
            assert "on_monitor" in page and "token" not in page
        status, _, page = await handoff("alice", f"{monitor}/")
        assert status == 403 and "auth/callback" not in page


@pytest.mark.timeout(60)
async def test_the_dashboard_signs_in_again_when_its_assertion_ends(
    monitor: ServiceProcess, browser: Browser
) -> None:
    """The live stream ends with the assertion; the page then goes back through review's
    hand-off instead of showing stale figures as if they were live."""
    short, _ = assertions.issue(
        review_signer().private_key,
        staff_id="olga",
        roles=["ops"],
        audience="monitor",
        now=datetime.now(UTC),
        lifetime=timedelta(seconds=4),
    )
    context = await browser.new_context(locale="en-GB")
    try:
        page = await context.new_page()
        await page.goto(f"{monitor.url}/auth/callback?" + urlencode({"token": short}))
        await page.wait_for_selector("#connection.on", timeout=15_000)
        async with page.expect_request(
            lambda r: (
                r.is_navigation_request() and r.url.startswith(f"{REVIEW_URL}/console/handoff")
            ),
            timeout=30_000,
        ) as handoff:
            pass
        request = await handoff.value
        assert parse_qs(urlsplit(request.url).query)["return"] == [f"{monitor.url}/"]
    finally:
        await context.close()


async def test_logout_clears_the_session_and_https_makes_it_secure(
    monitor: ServiceProcess, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{monitor.url}/auth/logout", allow_redirects=False) as reply:
        assert reply.status == 303 and reply.headers["Location"] == "/"
        cleared = reply.headers["Set-Cookie"]
    assert cleared.startswith(f'{SESSION_COOKIE}=""') and "Max-Age=0" in cleared
    secure = MonitorSettings(MONITOR_PUBLIC_URL="https://monitor.example.org")
    assert secure.secure_cookies is True
    assert MonitorSettings(MONITOR_PUBLIC_URL="http://127.0.0.1:8085").secure_cookies is False
    assert secure.handoff_url("https://monitor.example.org/?lang=ru").startswith(
        f"{secure.review_public_url}/console/handoff?audience=monitor&return=https%3A%2F%2F"
    )

"""Sign-in hardening: failed console sign-ins throttled per account and per client
address (429 with Retry-After, audited, kept across a restart), and the purge of
expired sessions and old throttle counters.

The throttle tests run review in this process over real HTTP and SQLite, built by its
own `wire` (tests/test_review_auth_support.py); each test has its own store, so one
test's failures do not lock another's accounts. The purge runs on every store backend."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from multidict import CIMultiDictProxy

from casework.policy.access import Limit, SignInLimits
from casework.store import DocumentStore
from services.review.auth.audit import SignIns
from services.review.auth.purge import Purge
from services.review.auth.sessions import SESSIONS, SessionStore
from services.review.auth.throttle import THROTTLE, SignInThrottle, Throttled
from services.review.domain.case import sort_key
from tests.test_review_auth_support import POLICY, Review, review_in_process

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
LIMITS = POLICY.access.sign_in


async def attempt(
    review: Review, login: str, password: str
) -> tuple[int, str, CIMultiDictProxy[str], list[str]]:
    """One sign-in through the form, as a browser does it: page, cookie, token, post."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{review.url}/console/login") as page:
            match = TOKEN.search(await page.text())
            assert match is not None
        form = {"login": login, "password": password, "csrf_token": match.group(1)}
        async with http.post(
            f"{review.url}/console/login", data=form, allow_redirects=False
        ) as reply:
            cookies = [c.key for c in http.cookie_jar if c.key == "casework_session"]
            return reply.status, await reply.text(), reply.headers, cookies


async def test_failed_sign_ins_are_throttled_per_account(tmp_path: Path) -> None:
    assert LIMITS.per_account.max < LIMITS.per_client.max
    async with review_in_process(tmp_path) as review:
        for _ in range(LIMITS.per_account.max):
            status, body, _, _ = await attempt(review, "alice", "guess")
            assert status == 401 and "wrong login or password" in body
        # The right password no longer helps: the password is not even checked.
        status, body, headers, cookies = await attempt(review, "alice", "demo-alice-password")
        assert status == 429, body
        assert "too many failed sign-ins for this account" in body and "<code>login</code>" in body
        assert 1 <= int(headers["Retry-After"]) <= LIMITS.per_account.per_seconds
        assert cookies == []
        # Another account from the same address is not locked out by alice's failures.
        status, _, _, cookies = await attempt(review, "bob", "demo-bob-password")
        assert status == 303 and cookies == ["casework_session"]
        audit = await SignIns(review.store).recent()
    outcomes = [(a.outcome, a.staff_id, a.detail) for a in reversed(audit)]
    assert outcomes == [
        *[("failed", "alice", "")] * LIMITS.per_account.max,
        ("throttled", "alice", "account"),
        ("signed-in", "bob", ""),
    ]
    assert all(a.client == "127.0.0.1" for a in audit)


async def test_the_throttle_counts_the_account_a_login_resolves_to_not_the_text(
    tmp_path: Path,
) -> None:
    """Issue 14 item 5: after five failures for `tess`, " tess" (or any other spelling
    the lookup resolves to tess) with the right password was let in. Every spelling
    below resolves to tess, so each failure counts against tess's one counter."""
    spellings = ["tess", " tess", "TESS", "tess\t", "ｔｅｓｓ", "Tess@OfficeActions.test "]
    assert len(spellings) >= LIMITS.per_account.max
    async with review_in_process(tmp_path) as review:
        for login in spellings[: LIMITS.per_account.max]:
            status, _, _, _ = await attempt(review, login, "guess")
            assert status == 401, login
        for login in spellings:
            status, body, _, cookies = await attempt(review, login, "demo-tess-password")
            assert status == 429 and "for this account" in body, login
            assert cookies == []
        audit = await SignIns(review.store).recent()
        # The audit names the account; the login digests are of the normalised login:
        # one for the id's spellings, one for the e-mail address.
        assert {a.staff_id for a in audit} == {"tess"}
        assert len({a.login_sha256 for a in audit}) == 2
    # Variants of a name that resolves to nobody share one counter too.
    (tmp_path / "unknown").mkdir()
    async with review_in_process(tmp_path / "unknown") as review:
        for i in range(LIMITS.per_account.max):
            await attempt(review, " Nobody" + " " * i, "guess")
        status, body, _, _ = await attempt(review, "NOBODY", "guess")
        assert status == 429 and "for this account" in body


async def test_failed_sign_ins_are_throttled_per_client_and_kept_across_a_restart(
    tmp_path: Path,
) -> None:
    async with review_in_process(tmp_path) as review:
        for i in range(LIMITS.per_client.max):
            status, _, _, _ = await attempt(review, f"nobody-{i}@example.org", "guess")
            assert status == 401
        status, body, headers, _ = await attempt(review, "carol", "demo-carol-password")
        assert status == 429 and "for this client" in body
        assert int(headers["Retry-After"]) >= 1
        counters = await review.store.find(THROTTLE)
        # Keys are hashed: the logins typed are not in the store.
        assert counters and not any("nobody" in str(doc) for doc in counters)
        audit = await SignIns(review.store).recent()
        assert not any("nobody" in str(a.model_dump()) for a in audit)
        assert {a.staff_id for a in audit if a.outcome == "failed"} == {None}
    async with review_in_process(tmp_path) as restarted:  # same store, new process state
        status, _, _, _ = await attempt(restarted, "carol", "demo-carol-password")
        assert status == 429


async def test_the_throttle_window_ends(store: DocumentStore) -> None:
    throttle = SignInThrottle(
        store,
        SignInLimits(
            per_account=Limit(max=2, per_seconds=60), per_client=Limit(max=9, per_seconds=60)
        ),
    )
    now = datetime(2026, 11, 21, 12, 0, 10, tzinfo=UTC)
    for _ in range(2):
        await throttle.check(account="account:alice", client="10.0.0.1", now=now)
        await throttle.failed(account="account:alice", client="10.0.0.1", now=now)
    try:
        await throttle.check(account="account:alice", client="10.0.0.2", now=now)  # any address
    except Throttled as exc:
        assert (exc.scope, exc.retry_after) == ("account", 50.0)
    else:
        raise AssertionError("the third try in the window was let through")
    await throttle.check(
        account="account:alice", client="10.0.0.2", now=now + timedelta(seconds=50)
    )


async def test_expired_sessions_and_old_counters_are_purged(store: DocumentStore) -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    sessions = SessionStore(store, timedelta(hours=12))
    expired, _ = await sessions.start("alice", now - timedelta(hours=13))
    live, _ = await sessions.start("bob", now - timedelta(hours=1))
    # Sessions stored before purge_at was kept: one expired, one live.
    for doc_id, expires in (("old-expired", now - timedelta(hours=2)), ("old-live", now)):
        await store.insert(
            SESSIONS,
            {
                "_id": doc_id,
                "staff_id": "carol",
                "csrf_token": "t",
                "started_at": (expires - timedelta(hours=12)).isoformat(),
                "expires_at": (expires + timedelta(minutes=30)).isoformat(),
                "ended_at": None,
            },
        )
    throttle = SignInThrottle(
        store,
        SignInLimits(
            per_account=Limit(max=5, per_seconds=900), per_client=Limit(max=9, per_seconds=900)
        ),
    )
    await throttle.failed(account="account:dave", client=None, now=now - timedelta(hours=1))
    await throttle.failed(account="account:dave", client=None, now=now)
    purge = Purge(store, lambda: now)
    await purge.prepare()

    assert await purge.purge() == 3  # the expired session, the old one, an old window
    assert await sessions.find(expired, now - timedelta(hours=2)) is None
    assert await sessions.find(live, now) is not None
    remaining = {d["_id"] for d in await store.find(SESSIONS)}
    assert "old-live" in remaining and "old-expired" not in remaining
    old_live = await store.get(SESSIONS, "old-live")
    assert old_live is not None and old_live["purge_at"] == sort_key(now + timedelta(minutes=30))
    [counter] = await store.find(THROTTLE)
    assert counter["failures"] == 1 and counter["purge_at"] > sort_key(now)
    assert await purge.purge() == 0
    later = Purge(store, lambda: now + timedelta(hours=12))
    assert await later.purge() == 3
    assert await store.find(SESSIONS) == [] and await store.find(THROTTLE) == []

"""Scripts keep bearer tokens (issue 20), now with an expiry date set at issue and
enforced, and the last use shown to the admin. Review runs in this process over real
HTTP and SQLite (tests/test_review_auth_support.py)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from services.review.auth.directory import StaffRecords
from services.review.domain.staff import TOKEN_DAYS, StaffMember, token_expiry
from tests.review_support import fresh_review  # noqa: F401 (the review fixture)
from tests.support import eventually
from tests.test_review_admin import ADAM, call
from tests.test_review_auth_support import POLICY, Review

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def test_a_token_lasts_ninety_days_or_to_the_end_of_the_day_chosen() -> None:
    # The last day is 4 March 2027 (90 days on); it works to its end.
    assert token_expiry(None, NOW) == datetime(2027, 3, 5, tzinfo=UTC)
    assert token_expiry(date(2026, 12, 4), NOW) == datetime(2026, 12, 5, tzinfo=UTC)
    for outside in (date(2026, 12, 3), NOW.date() + timedelta(days=367)):
        with pytest.raises(ValueError, match="366 days"):
            token_expiry(outside, NOW)


async def test_an_issued_token_works_until_its_expiry_and_shows_its_last_use(
    review: Review,
) -> None:
    status, issued = await call(review, "POST", "/api/v1/staff/alice/tokens", ADAM, {"name": "ci"})
    assert status == 201, issued
    today = datetime.now(UTC).date()
    expected = datetime.combine(today + timedelta(days=TOKEN_DAYS + 1), datetime.min.time(), UTC)
    assert datetime.fromisoformat(issued["expires_at"]) == expected
    status, _ = await call(review, "GET", "/api/v1/cases", issued["token"])
    assert status == 200
    status, listing = await call(review, "GET", "/api/v1/staff/alice/tokens", ADAM)
    [ci] = [t for t in listing["tokens"] if t["name"] == "ci"]
    assert ci["last_used_at"] is not None and ci["expires_at"] == issued["expires_at"]

    # The console shows both to the admin.
    page = await console_page(review, "/console/staff/alice")
    row = re.search(r'<tr data-token="ci">.*?</tr>', page, re.S)
    assert row is not None
    assert expected.strftime("%Y-%m-%d 00:00 UTC") in row.group(0)
    assert 'class="last-used">' + datetime.now(UTC).strftime("%Y-%m-%d") in row.group(0)

    # Time passes: the token's expiry is behind us (set in the store), and it is refused.
    def expire(member: StaffMember) -> StaffMember:
        past = datetime.now(UTC) - timedelta(seconds=1)
        tokens = [
            t.model_copy(update={"expires_at": past}) if t.name == "ci" else t
            for t in member.tokens
        ]
        return member.model_copy(update={"tokens": tokens})

    records = StaffRecords(review.store, POLICY, lambda: datetime.now(UTC))
    await records.change("alice", expire, "test", "token-expired", "ci")
    status, body = await refused_once_fresh(review, issued["token"])
    assert status == 401, body
    page = await console_page(review, "/console/staff/alice")
    assert "expired" in page


async def refused_once_fresh(review: Review, token: str) -> tuple[int, Any]:
    """The directory is reloaded within its refresh interval: ask until it is."""
    answers: list[tuple[int, Any]] = []

    async def refused() -> bool:
        answers.append(await call(review, "GET", "/api/v1/cases", token))
        return answers[-1][0] == 401

    await eventually(refused, timeout=10, what="the expired token refused")
    return answers[-1]


async def test_an_expiry_more_than_a_year_ahead_is_refused(review: Review) -> None:
    later = (datetime.now(UTC).date() + timedelta(days=400)).isoformat()
    body = {"name": "forever", "expires_on": later}
    status, answer = await call(review, "POST", "/api/v1/staff/alice/tokens", ADAM, body)
    assert status == 422, answer
    assert [(e["field"], e["rule"]) for e in answer["errors"]] == [("expires_on", "within_a_year")]


async def console_page(review: Review, path: str) -> str:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{review.url}/console/login") as page:
            match = CSRF.search(await page.text())
            assert match is not None
        form = {"login": "adam", "password": "demo-adam-password", "csrf_token": match.group(1)}
        async with http.post(f"{review.url}/console/login", data=form) as reply:
            assert reply.status == 200
        async with http.get(review.url + path) as reply:
            assert reply.status == 200
            return await reply.text()

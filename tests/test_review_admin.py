"""Staff management by the `admin` role, over the JSON API and in the console (real
headless Chromium): list, add, set roles, levels and languages, disable, issue and
revoke API tokens, and a one-time link with which a person sets their own password.
Every change is in the staff change log; refusals name the field and change nothing.

Review runs in this process over real HTTP and SQLite, built by its own `wire`
(tests/test_review_auth_support.py); its store was seeded from a copy of the demo staff
file, and the store is what every change writes (the file is never written)."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import Browser

from tests.fixtures.browser import artefact_path
from tests.review_support import fresh_review  # noqa: F401 (the review fixture)
from tests.test_review_auth_support import Review, stored_staff

Json = dict[str, Any]


async def call(
    review: Review, method: str, path: str, token: str, body: Json | None = None
) -> tuple[int, Json]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, review.url + path, headers=headers, json=body) as reply:
            return reply.status, await reply.json()


ADAM = "demo-adam-token"


async def test_an_admin_manages_an_account_over_the_api(review: Review) -> None:
    status, listing = await call(review, "GET", "/api/v1/staff", ADAM)
    assert status == 200
    assert {m["id"] for m in listing["staff"]} >= {"alice", "adam", "otto"}
    text = str(listing)
    assert "scrypt" not in text and "sha256" not in text and "password_hash" not in text
    status, body = await call(review, "GET", "/api/v1/staff", "demo-alice-token")
    assert status == 403 and "manage-staff" in str(body)

    erin = {
        "id": "erin",
        "name": "Erin Handler",
        "email": "erin@officeactions.test",
        "roles": ["handler"],
        "levels": ["case-handler"],
        "languages": ["en"],
    }
    status, body = await call(review, "POST", "/api/v1/staff", ADAM, erin)
    assert status == 201 and body["roles"] == ["handler"], body
    status, body = await call(review, "POST", "/api/v1/staff", ADAM, erin)
    assert status == 409 and body["errors"][0]["field"] == "id"

    # An unknown level is refused naming the field; the store stays as it was.
    seed = review.staff_file.read_text()
    before = await stored_staff(review)
    update = {"roles": ["handler", "manager"], "levels": ["janitor"], "languages": ["en", "ru"]}
    status, body = await call(review, "PUT", "/api/v1/staff/erin", ADAM, update)
    assert status == 422 and [(e["field"], e["rule"]) for e in body["errors"]] == [
        ("levels", "policy")
    ]
    assert await stored_staff(review) == before
    update["levels"] = ["case-handler", "ts-manager"]
    status, body = await call(review, "PUT", "/api/v1/staff/erin", ADAM, update)
    assert status == 200, body
    assert (body["roles"], body["levels"], body["languages"]) == (
        ["handler", "manager"],
        ["case-handler", "ts-manager"],
        ["en", "ru"],
    )

    status, issued = await call(review, "POST", "/api/v1/staff/erin/tokens", ADAM, {"name": "ci"})
    assert status == 201 and issued["name"] == "ci"
    assert issued["token"] not in str(await stored_staff(review))
    assert review.staff_file.read_text() == seed  # the seed file is never written
    status, _ = await call(review, "GET", "/api/v1/cases", issued["token"])
    assert status == 200  # erin, through her new token

    status, body = await call(
        review, "PUT", "/api/v1/staff/erin/disabled", ADAM, {"disabled": True}
    )
    assert status == 200 and body["disabled"] is True
    status, _ = await call(review, "GET", "/api/v1/cases", issued["token"])
    assert status == 401
    await call(review, "PUT", "/api/v1/staff/erin/disabled", ADAM, {"disabled": False})
    status, _ = await call(review, "GET", "/api/v1/cases", issued["token"])
    assert status == 200

    status, body = await call(review, "DELETE", "/api/v1/staff/erin/tokens/ci", ADAM)
    assert status == 200 and body["tokens"] == []
    status, _ = await call(review, "GET", "/api/v1/cases", issued["token"])
    assert status == 401

    status, changes = await call(review, "GET", "/api/v1/staff-changes", ADAM)
    assert status == 200
    logged = [(c["actor"], c["target"], c["change"]) for c in reversed(changes["changes"])]
    assert logged == [
        ("seed", "*", "seeded"),
        ("adam", "erin", "added"),
        ("adam", "erin", "updated"),
        ("adam", "erin", "token-issued"),
        ("adam", "erin", "disabled"),
        ("adam", "erin", "enabled"),
        ("adam", "erin", "token-revoked"),
    ]


async def test_seeded_tokens_are_listed_and_revoked_at_once(review: Review) -> None:
    """Issue 14 item 6: a token from the staff file (REVIEW_STAFF_FILE) could not be
    revoked. It is a named entry like any other: listed with when it was made and last
    used, and refused the moment it is revoked."""
    status, _ = await call(review, "GET", "/api/v1/cases", "demo-alice-token")
    assert status == 200
    status, listed = await call(review, "GET", "/api/v1/staff/alice/tokens", ADAM)
    assert status == 200
    [seeded] = listed["tokens"]
    assert seeded["name"] == "seeded" and seeded["created_by"] == "file staff.yaml"
    assert seeded["created_at"] is not None and seeded["last_used_at"] is not None
    assert "sha256" not in str(listed) and "demo-alice-token" not in str(listed)

    status, body = await call(review, "DELETE", "/api/v1/staff/alice/tokens/seeded", ADAM)
    assert status == 200 and body["tokens"] == []
    status, body = await call(review, "GET", "/api/v1/cases", "demo-alice-token")
    assert status == 401 and body["error"] == "unauthenticated"
    status, body = await call(review, "DELETE", "/api/v1/staff/alice/tokens/seeded", ADAM)
    assert status == 404 and body["errors"][0]["rule"] == "known_token"
    status, body = await call(review, "GET", "/api/v1/staff/nobody/tokens", ADAM)
    assert status == 404 and body["errors"][0]["field"] == "staff_id"
    # Revoking is for admins only, seeded tokens included.
    status, _ = await call(review, "DELETE", "/api/v1/staff/bob/tokens/seeded", "demo-bob-token")
    assert status == 403
    status, _ = await call(review, "GET", "/api/v1/cases", "demo-bob-token")
    assert status == 200
    # The revocation is in the staff change log like any other.
    _, changes = await call(review, "GET", "/api/v1/staff-changes", ADAM)
    assert ("adam", "alice", "token-revoked", "seeded") in [
        (c["actor"], c["target"], c["change"], c["detail"]) for c in changes["changes"]
    ]


async def test_an_admin_revokes_a_seeded_token_in_the_console(
    review: Review, browser: Browser
) -> None:
    admin = await browser.new_context(locale="en-GB")
    try:
        page = await admin.new_page()
        await page.goto(f"{review.url}/console/login")
        await page.fill("#login", "adam")
        await page.fill("#password", "demo-adam-password")
        await page.click("#sign-in")
        await page.goto(f"{review.url}/console/staff/carol")
        row = page.locator('#token-list tr[data-token="seeded"]')
        assert await row.count() == 1
        assert "staff.yaml" in await row.inner_text()
        await row.locator("button.revoke-token").click()
        await page.wait_for_selector("h1:text('Staff member carol')")
        assert await page.locator('#token-list tr[data-token="seeded"]').count() == 0
    finally:
        await admin.close()
    status, _ = await call(review, "GET", "/api/v1/cases", "demo-carol-token")
    assert status == 401


async def test_an_admin_cannot_lock_themselves_out(review: Review) -> None:
    before = await stored_staff(review)
    status, body = await call(
        review, "PUT", "/api/v1/staff/adam/disabled", ADAM, {"disabled": True}
    )
    assert status == 403 and body["errors"][0]["rule"] == "not_self"
    status, body = await call(
        review, "PUT", "/api/v1/staff/adam", ADAM, {"roles": ["auditor"], "languages": ["en"]}
    )
    assert status == 403 and body["errors"][0]["field"] == "roles"
    assert await stored_staff(review) == before
    status, body = await call(review, "GET", "/api/v1/staff-changes", ADAM)
    assert [c["change"] for c in body["changes"]] == ["seeded"]


async def test_the_openapi_document_describes_the_staff_routes(review: Review) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{review.url}/api/v1/openapi.json") as reply:
            document = await reply.json()
    documented = {
        (p, m.upper()) for p, item in document["paths"].items() for m in item if "/staff" in p
    }
    served = {
        (route.resource.canonical, route.method)
        for route in review.app().router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/staff")
        and route.method != "HEAD"
    }
    assert served and documented == served
    assert "/api/v1/cases/{case_id}" in document["paths"]


async def test_an_admin_adds_someone_who_sets_their_own_password_in_the_console(
    review: Review, browser: Browser
) -> None:
    admin = await browser.new_context(locale="en-GB")
    person = await browser.new_context(locale="en-GB")
    try:
        page = await admin.new_page()
        await page.goto(f"{review.url}/console/login")
        await page.fill("#login", "adam")
        await page.fill("#password", "demo-adam-password")
        await page.click("#sign-in")
        await page.click("#staff-link")
        form = page.locator("#add-staff-form")
        await form.locator('input[name="id"]').fill("fern")
        await form.locator('input[name="name"]').fill("Fern Counsel")
        await form.locator('input[name="email"]').fill("fern@officeactions.test")
        await form.locator('input[name="roles"][value="legal"]').check()
        await form.locator('input[name="levels"][value="legal-counsel"]').check()
        await form.locator("#add-staff-submit").click()
        # No language: refused naming the field, with what was typed kept.
        await page.wait_for_selector(".problems")
        assert "languages" in await page.inner_text(".problems")
        assert await form.locator('input[name="id"]').input_value() == "fern"
        assert await form.locator('input[name="roles"][value="legal"]').is_checked()
        assert await page.locator('#staff-list tr[data-staff="fern"]').count() == 0
        await form.locator('input[name="languages"]').fill("en, de")
        await form.locator("#add-staff-submit").click()
        await page.wait_for_selector("h1:text('Staff member fern')")

        await page.click("#make-link")
        link = (await page.inner_text("#password-link pre")).strip()
        await page.screenshot(path=artefact_path("console-staff-member.png"), full_page=True)
        assert link.startswith(f"{review.url}/console/password/")

        own = await person.new_page()
        await own.goto(link)
        await own.fill("#new-password", "fern's own long password")
        await own.fill("#again", "something else entirely")
        await own.click("#set-password")
        await own.wait_for_selector(".problems")
        assert "again" in await own.inner_text(".problems")
        await own.fill("#new-password", "fern's own long password")
        await own.fill("#again", "fern's own long password")
        await own.click("#set-password")
        await own.wait_for_selector("#password-done")
        reply = await own.goto(link)  # once only
        assert reply is not None and reply.status == 404
        assert await own.locator("#link-unusable").count() == 1

        await own.goto(f"{review.url}/console/login")
        await own.fill("#login", "fern")
        await own.fill("#password", "fern's own long password")
        await own.click("#sign-in")
        await own.wait_for_selector('.me[data-staff="fern"]')

        # Disabled, her session counts no more.
        await page.click("#toggle-disabled")
        await page.wait_for_selector("#status:text('disabled')")
        await own.goto(f"{review.url}/console")
        assert "/console/login" in own.url

        await page.fill('#token-form input[name="name"]', "script")
        await page.click("#issue-token")
        token = (await page.inner_text("#issued-token pre")).strip()
        await page.reload()
        assert await page.locator("#issued-token").count() == 0  # shown that once
        assert await page.locator('#token-list tr[data-token="script"]').count() == 1
    finally:
        await admin.close()
        await person.close()
    status, _ = await call(review, "GET", "/api/v1/cases", token)
    assert status == 401  # fern is disabled
    status, body = await call(review, "GET", "/api/v1/staff-changes", ADAM)
    logged = [(c["actor"], c["target"], c["change"]) for c in reversed(body["changes"])]
    assert logged == [
        ("seed", "*", "seeded"),
        ("adam", "fern", "added"),
        ("adam", "fern", "password-link-issued"),
        ("fern", "fern", "password-set"),
        ("adam", "fern", "disabled"),
        ("adam", "fern", "token-issued"),
    ]

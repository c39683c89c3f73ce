"""Review's console against the real identity provider (oidc-provider on Node,
tests/fixtures/oidc.py), in headless Chromium: sign-in, refusal of an unknown or disabled
person, sign-out at the console and the provider, and the step-up a sign-off needs at a
level the policy marks (the typed form kept across the trip). The API refuses such a
level to a bearer token. No mocked endpoint: review discovers the provider, exchanges the
code at its token endpoint and checks the ID token with its JWKS.

Step-up is off in the shipped policy (the demo signs with API tokens); these tests use a
variant with a rule for legal-counsel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page

from casework.policy import Policy
from casework.policy.review import StepUp
from deploy.oidc_provider import ACR_MFA, ACR_PWD, DEMO_OTP
from services.review.adapters.stored import from_document
from services.review.auth.audit import SignIns
from services.review.auth.endpoints import WITH_IDENTITY_PROVIDER
from services.review.auth.sessions import SESSIONS
from services.review.domain.opening import case_id_for
from services.review.usecases import CASES
from tests.fixtures.browser import artefact_path
from tests.fixtures.oidc import (
    OidcProviderFactory,
    RunningProvider,
    oidc_provider_factory,  # noqa: F401 (the fixture)
)
from tests.support import free_port
from tests.test_review_auth_support import POLICY, Review, receive, review_in_process, submission

CASE_ID = case_id_for("R-ABCDEFGH2345")
CALLBACK = "/console/oidc/callback"
RULE = StepUp(max_age_seconds=300, acr_values=[ACR_MFA])
STEP_UP = POLICY.model_copy(
    update={"review": POLICY.review.model_copy(update={"step_up": {"legal-counsel": RULE}})}
)
DECISION: dict[str, Any] = {
    "subject": {"account": "Harasser", "language": "en"},
    "grounds": ["ucoc-3-1", "tou-4-harassment"],
    "statement_of_facts": "Staff only.",
    "public_rationale": "Sustained harassment.",
    "evidence": [{"id": "E1", "audiences": ["affected-user"]}],
}


@asynccontextmanager
async def review_with_provider(
    tmp_path: Path, factory: OidcProviderFactory, policy: Policy = POLICY, **settings: Any
) -> AsyncIterator[tuple[Review, RunningProvider]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    provider = factory(
        redirect_uris=[f"{base}/console/oidc/callback"],
        post_logout_redirect_uris=[f"{base}/console/login"],
    )
    oidc = {
        "REVIEW_OIDC_ISSUER": provider.issuer,
        "REVIEW_OIDC_CLIENT_ID": provider.client_id,
        "REVIEW_OIDC_CLIENT_SECRET": provider.client_secret,
        **settings,
    }
    async with review_in_process(tmp_path, port=port, settings=oidc, policy=policy) as review:
        yield review, provider


async def api(review: Review, method: str, path: str, who: str, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer demo-{who}-token"}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, review.url + path, json=body, headers=headers) as reply:
            return reply.status, await reply.json()


async def case_at_legal_counsel(review: Review) -> None:
    """A drafted global ban signed by the case handler and the T&S manager (tokens)."""
    await receive(review, submission())
    case = f"/api/v1/cases/{CASE_ID}"
    evidence = {"description": "Threats", "where": "off-wiki-public", "url": "https://x.test/1"}
    assert (await api(review, "POST", case + "/evidence", "alice", evidence))[0] == 201
    assert (await api(review, "PUT", case + "/decision", "alice", DECISION))[0] == 200
    for who, level in [("alice", "case-handler"), ("bob", "ts-manager")]:
        body = {"level": level, "verdict": "approve", "comment": f"{who} agrees"}
        status, answer = await api(review, "POST", case + "/signoffs", who, body)
        assert status == 201, answer


async def at_provider(page: Page, login: str, password: str, otp: str | None = None) -> None:
    """The provider's own sign-in form (and its second-factor form when it asks)."""
    await page.wait_for_selector("form#login")
    await page.fill("#login-name", login)
    await page.fill("#password", password)
    await page.click("form#login button[type=submit]")
    if otp is not None:
        await page.wait_for_selector("form#otp")
        await page.fill("#otp-code", otp)
        await page.click("form#otp button[type=submit]")


async def sign_in(page: Page, review: Review, who: str, next_path: str = "/console") -> None:
    await page.goto(review.url + next_path)
    await page.click("#oidc-sign-in")
    await at_provider(page, who, f"demo-{who}-password")
    await page.wait_for_url(review.url + next_path)


async def stored_case(review: Review) -> Any:
    doc = await review.store.get(CASES, CASE_ID)
    assert doc is not None
    return from_document(doc)


async def test_sign_in_and_sign_out_through_the_provider(
    tmp_path: Path, oidc_provider_factory: OidcProviderFactory, page: Page
) -> None:
    async with review_with_provider(tmp_path, oidc_provider_factory) as (review, _):
        served = {
            (r.method, r.resource.canonical) for r in review.app().router.routes() if r.resource
        }
        assert WITH_IDENTITY_PROVIDER <= served
        await page.goto(review.url + "/console")
        assert "/console/login" in page.url
        await page.screenshot(path=artefact_path("review-oidc-login.png"), full_page=True)
        await page.click("#oidc-sign-in")
        await at_provider(page, "alice", "demo-alice-password")
        await page.wait_for_url(review.url + "/console")
        assert await page.get_attribute(".me", "data-staff") == "alice"
        await page.screenshot(path=artefact_path("review-oidc-signed-in.png"), full_page=True)
        [attempt] = await SignIns(review.store).recent()
        assert (attempt.outcome, attempt.staff_id, attempt.detail) == ("signed-in", "alice", "oidc")
        [session] = await review.store.find(SESSIONS)
        assert session["authentication"]["method"] == "oidc"
        assert session["authentication"]["acr"] == ACR_PWD and session["ended_at"] is None

        await page.click("#logout")
        await page.wait_for_selector("#signed-out")
        await page.screenshot(path=artefact_path("review-oidc-signed-out.png"), full_page=True)
        [session] = await review.store.find(SESSIONS)
        assert session["ended_at"] is not None
        await page.click("#provider-logout")  # the provider asks to confirm
        await page.click("button:has-text('Sign out')")
        await page.wait_for_url(f"{review.url}/console/login**")
        await page.goto(review.url + "/console")
        assert "/console/login" in page.url  # the console session is gone
        await page.click("#oidc-sign-in")
        await page.wait_for_selector("form#login")  # ... and so is the provider's


async def test_unknown_and_disabled_people_are_refused(
    tmp_path: Path, oidc_provider_factory: OidcProviderFactory, page: Page
) -> None:
    async with review_with_provider(tmp_path, oidc_provider_factory) as (review, _):
        status, body = await api(
            review, "PUT", "/api/v1/staff/bob/disabled", "adam", {"disabled": True}
        )
        assert status == 200, body
        callbacks: list[int] = []
        callback = review.url + CALLBACK
        page.on(
            "response", lambda r: callbacks.append(r.status) if r.url.startswith(callback) else None
        )
        for who, said in [("mallory", "not in the console's staff directory"), ("bob", "disabled")]:
            callbacks.clear()
            await page.goto(review.url + "/console/login")
            await page.click("#oidc-sign-in")
            await at_provider(page, who, f"demo-{who}-password")
            await page.wait_for_selector("#refused")
            assert said in await page.inner_text("#refusal-reason")
            assert callbacks == [403]
            shot = artefact_path(f"review-oidc-refused-{who}.png")
            await page.screenshot(path=shot, full_page=True)
            cookies = await page.context.cookies(review.url)
            assert "casework_session" not in {c["name"] for c in cookies}
            # Signed in at the provider all the same: the refusal offers to sign out there.
            await page.click("#provider-logout")
            await page.click("button:has-text('Sign out')")
            await page.wait_for_url(f"{review.url}/console/login**")
        assert await review.store.find(SESSIONS) == []
        attempts = [
            (a.outcome, a.staff_id, a.detail)
            for a in reversed(await SignIns(review.store).recent())
        ]
    assert attempts == [("failed", None, "oidc unknown"), ("failed", "bob", "oidc disabled")]


async def test_an_unverified_email_names_nobody_and_a_verified_one_signs_in(
    tmp_path: Path, oidc_provider_factory: OidcProviderFactory, page: Page
) -> None:
    """Matched by e-mail: ursula's address is tess's, but the provider has not verified it."""
    async with review_with_provider(
        tmp_path, oidc_provider_factory, REVIEW_OIDC_CLAIM="email", REVIEW_PASSWORD_SIGNIN="false"
    ) as (review, _):
        await page.goto(review.url + "/console/login")
        assert await page.query_selector("#password") is None  # password sign-in is off
        await page.click("#oidc-sign-in")
        await at_provider(page, "ursula", "demo-ursula-password")
        await page.wait_for_selector("#refused")
        assert "not verified your e-mail" in await page.inner_text("#refusal-reason")
        await page.click("#provider-logout")
        await page.click("button:has-text('Sign out')")
        await page.wait_for_url(f"{review.url}/console/login**")
        await sign_in(page, review, "tess")
        assert await page.get_attribute(".me", "data-staff") == "tess"
        async with aiohttp.ClientSession() as http:
            form = {"login": "tess", "password": "demo-tess-password", "csrf_token": "x"}
            async with http.post(review.url + "/console/login", data=form) as reply:
                assert (
                    reply.status == 403 and "password sign-in is switched off" in await reply.text()
                )


async def test_signing_a_step_up_level_sends_the_signer_through_the_provider_again(
    tmp_path: Path, oidc_provider_factory: OidcProviderFactory, page: Page
) -> None:
    async with review_with_provider(tmp_path, oidc_provider_factory, STEP_UP) as (review, _):
        await case_at_legal_counsel(review)
        page_path = f"/console/cases/{CASE_ID}"
        await sign_in(page, review, "carol", page_path)  # password only: acr pwd
        typed = "Counsel approves: the threats are documented."
        await page.fill("#signoff-form textarea[name=comment]", typed)
        await page.click("#sign")
        # Why, and the way on (a link: the console's CSP keeps forms to itself).
        await page.wait_for_selector("#step-up")
        assert "Legal counsel" in await page.inner_text("main")  # the policy's title, not the id
        await page.screenshot(path=artefact_path("review-oidc-step-up.png"), full_page=True)
        await page.click("#step-up-continue")
        # The provider again: password and, because acr_values asks for it, the code.
        await at_provider(page, "carol", "demo-carol-password", DEMO_OTP["carol"])
        await page.wait_for_url(review.url + page_path)
        assert await page.input_value("#signoff-form textarea[name=comment]") == typed
        assert await page.is_visible("#notice")
        await page.screenshot(path=artefact_path("review-oidc-step-up-kept.png"), full_page=True)
        assert len((await stored_case(review)).signoffs) == 2  # not signed yet
        await page.click("#sign")
        await page.wait_for_selector("tr[data-level=legal-counsel]")
        shown = await page.inner_text("tr[data-level=legal-counsel] .signer-auth")
        assert "identity provider" in shown and ACR_MFA in shown and "pwd, otp" in shown
        await page.screenshot(path=artefact_path("review-oidc-step-up-signed.png"), full_page=True)
        signed = (await stored_case(review)).signoffs[-1]
        attempts = [a.detail for a in reversed(await SignIns(review.store).recent())]
    assert (signed.level, signed.staff_id, signed.comment) == ("legal-counsel", "carol", typed)
    assert signed.authentication is not None
    assert (signed.authentication.method, signed.authentication.acr) == ("oidc", ACR_MFA)
    assert signed.authentication.amr == ["pwd", "otp"]
    assert signed.authentication.auth_time is not None
    assert attempts == ["oidc", "oidc step-up legal-counsel"]


async def test_the_api_refuses_a_token_signature_at_a_step_up_level(
    tmp_path: Path, oidc_provider_factory: OidcProviderFactory
) -> None:
    async with review_with_provider(tmp_path, oidc_provider_factory, STEP_UP) as (review, _):
        await case_at_legal_counsel(review)
        body = {"level": "legal-counsel", "verdict": "approve", "comment": "By script."}
        status, answer = await api(
            review, "POST", f"/api/v1/cases/{CASE_ID}/signoffs", "carol", body
        )
        case = await stored_case(review)
    assert status == 403, answer
    assert [(e["field"], e["rule"]) for e in answer["errors"]] == [
        ("authentication", "fresh_strong_authentication")
    ]
    assert [s.level for s in case.signoffs] == ["case-handler", "ts-manager"]
    # Levels without a rule are signed by token, and say so.
    assert case.signoffs[-1].authentication is not None
    assert case.signoffs[-1].authentication.method == "token"


async def test_a_sign_in_without_a_second_factor_does_not_meet_the_step_up(
    tmp_path: Path, oidc_provider_factory: OidcProviderFactory, page: Page
) -> None:
    """bob has no second factor at the provider: asked for mfa, it answers with the lower
    acr, and review refuses it rather than sign."""
    policy = POLICY.model_copy(
        update={"review": POLICY.review.model_copy(update={"step_up": {"ts-manager": RULE}})}
    )
    async with review_with_provider(tmp_path, oidc_provider_factory, policy) as (review, _):
        await receive(review, submission())
        case = f"/api/v1/cases/{CASE_ID}"
        evidence = {"description": "Threats", "where": "off-wiki-public", "url": "https://x.test/1"}
        assert (await api(review, "POST", case + "/evidence", "alice", evidence))[0] == 201
        assert (await api(review, "PUT", case + "/decision", "alice", DECISION))[0] == 200
        body = {"level": "case-handler", "verdict": "approve", "comment": "alice agrees"}
        assert (await api(review, "POST", case + "/signoffs", "alice", body))[0] == 201
        page_path = f"/console/cases/{CASE_ID}"
        await sign_in(page, review, "bob", page_path)
        await page.fill("#signoff-form textarea[name=comment]", "Manager agrees.")
        await page.click("#sign")
        await page.click("#step-up-continue")
        await at_provider(page, "bob", "demo-bob-password")  # no code is asked: bob has none
        await page.wait_for_selector("#refused")
        assert "second factor" in await page.inner_text("#refusal-reason")
        await page.screenshot(path=artefact_path("review-oidc-step-up-refused.png"), full_page=True)
        signoffs = (await stored_case(review)).signoffs
        details = [a.detail for a in reversed(await SignIns(review.store).recent())]
    assert [s.level for s in signoffs] == ["case-handler"]
    assert details == ["oidc", "oidc not_strong"]

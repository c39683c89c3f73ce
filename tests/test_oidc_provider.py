"""The sandbox identity provider (deploy/oidc_provider.py, the certified `oidc-provider` on Node)
walked like a relying party would, in a real headless Chromium: discovery, the authorization
code flow with PKCE (S256 required), state and nonce, the login and second-factor pages, the
token endpoint with client_secret_basic and client_secret_post, the id_token's signature
(JWKS) and claims (acr, amr, auth_time), step-up by acr_values, max_age and prompt=login, and
RP-initiated logout.

The relying party here is the test: a small aiohttp server takes the redirect (it records the
query), the token request is a real HTTP POST, and the id_token is checked with joserfc.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.async_api import Page

from deploy.oidc_provider import ACR_MFA, ACR_PWD, AMR_MFA, AMR_PWD
from tests.fixtures.browser import artefact_path
from tests.fixtures.oidc import (
    OidcProviderFactory,
    RunningProvider,
    oidc_provider_factory,  # noqa: F401 - fixture
)
from tests.support import eventually, free_port, holds


@dataclass
class RelyingParty:
    """The test's own client: where the provider redirects to, and what came back."""

    base: str
    callbacks: list[dict[str, str]] = field(default_factory=list)
    logouts: list[dict[str, str]] = field(default_factory=list)

    @property
    def redirect_uri(self) -> str:
        return f"{self.base}/cb"

    @property
    def post_logout_uri(self) -> str:
        return f"{self.base}/out"


@pytest.fixture
async def relying_party() -> AsyncIterator[RelyingParty]:
    port = free_port()
    party = RelyingParty(f"http://127.0.0.1:{port}")

    async def callback(request: web.Request) -> web.Response:
        party.callbacks.append(dict(request.query))
        return web.Response(text="relying party: callback received")

    async def logged_out(request: web.Request) -> web.Response:
        party.logouts.append(dict(request.query))
        return web.Response(text="relying party: signed out")

    app = web.Application()
    app.router.add_get("/cb", callback)
    app.router.add_get("/out", logged_out)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield party
    await runner.cleanup()


@pytest.fixture
def provider(
    oidc_provider_factory: OidcProviderFactory,
    relying_party: RelyingParty,
) -> RunningProvider:
    return oidc_provider_factory(
        redirect_uris=[relying_party.redirect_uri],
        post_logout_redirect_uris=[relying_party.post_logout_uri],
    )


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


@dataclass
class Flow:
    """One authorization request: its PKCE verifier, state and nonce."""

    provider: RunningProvider
    party: RelyingParty
    discovery: dict[str, Any]
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def authorize_url(self, **extra: str) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        query = {
            "response_type": "code",
            "client_id": self.provider.client_id,
            "redirect_uri": self.party.redirect_uri,
            "scope": "openid email profile",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{self.discovery['authorization_endpoint']}?{urlencode(query)}"

    async def code(self, seen_before: int) -> str:
        await eventually(lambda: holds(len(self.party.callbacks) > seen_before), what="redirect")
        answer = self.party.callbacks[-1]
        assert answer.get("state") == self.state, answer
        assert "code" in answer, answer
        return answer["code"]

    async def tokens(self, code: str, *, post_secret: bool = False) -> tuple[int, dict[str, Any]]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.party.redirect_uri,
            "code_verifier": self.verifier,
        }
        client_id, secret = self.provider.client_id, self.provider.client_secret
        headers = {}
        if post_secret:
            form |= {"client_id": client_id, "client_secret": secret}
        else:
            pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.discovery["token_endpoint"], data=form, headers=headers) as response,
        ):
            return response.status, await response.json()

    async def id_token_claims(self, tokens: dict[str, Any]) -> dict[str, Any]:
        keys = KeySet.import_key_set(await get_json(self.discovery["jwks_uri"]))
        token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.provider.issuer},
            aud={"essential": True, "value": self.provider.client_id},
            nonce={"essential": True, "value": self.nonce},
            exp={"essential": True},
            auth_time={"essential": True},
        ).validate(token.claims)
        return dict(token.claims)


async def start_flow(provider: RunningProvider, party: RelyingParty) -> Flow:
    return Flow(provider, party, await get_json(provider.discovery_url))


async def sign_in(page: Page, login: str, password: str) -> None:
    await page.locator("#login-name").fill(login)
    await page.locator("#password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def enter_code(page: Page, code: str) -> None:
    await page.locator("#otp-code").fill(code)
    await page.get_by_role("button", name="Verify").click()


async def password_sign_in(
    page: Page, flow: Flow, account: str, password: str, **extra: str
) -> dict[str, Any]:
    """A whole sign-in with the password only; the id_token's checked claims."""
    seen = len(flow.party.callbacks)
    await page.goto(flow.authorize_url(**extra))
    await sign_in(page, account, password)
    status, tokens = await flow.tokens(await flow.code(seen))
    assert status == 200, tokens
    return await flow.id_token_claims(tokens)


async def test_discovery_is_served_with_the_sandbox_settings(provider: RunningProvider) -> None:
    discovery = await get_json(provider.discovery_url)

    assert discovery["issuer"] == provider.issuer
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert discovery["acr_values_supported"] == [ACR_PWD, ACR_MFA]
    assert discovery["end_session_endpoint"] == f"{provider.issuer}/session/end"
    assert {"client_secret_basic", "client_secret_post"} <= set(
        discovery["token_endpoint_auth_methods_supported"]
    )
    keys = await get_json(discovery["jwks_uri"])
    assert [key["kty"] for key in keys["keys"]] == ["RSA"]
    assert all("d" not in key for key in keys["keys"]), "the JWKS must not publish private parts"


async def test_password_sign_in_returns_pwd_acr_and_the_staff_claims(
    page: Page, provider: RunningProvider, relying_party: RelyingParty
) -> None:
    flow = await start_flow(provider, relying_party)
    before = int(time.time())
    await page.goto(flow.authorize_url())
    await page.screenshot(path=artefact_path("oidc-provider-login.png"), full_page=True)
    await sign_in(page, "alice", "wrong-password")
    await page.locator(".error").wait_for()
    assert "wrong password" in await page.locator(".error").inner_text()
    await sign_in(page, "alice@officeactions.test", "demo-alice-password")
    code = await flow.code(0)

    status, tokens = await flow.tokens(code)
    assert status == 200, tokens
    claims = await flow.id_token_claims(tokens)
    assert claims["sub"] == "alice"
    assert claims["email"] == "alice@officeactions.test"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Handler"
    assert (claims["acr"], claims["amr"]) == (ACR_PWD, AMR_PWD)
    assert before <= claims["auth_time"] <= int(time.time())
    assert relying_party.callbacks[-1]["iss"] == provider.issuer
    reused, answer = await flow.tokens(code)
    assert (reused, answer["error"]) == (400, "invalid_grant"), "a code is good only once"


async def test_the_token_endpoint_takes_the_secret_in_the_body_and_refuses_a_wrong_one(
    page: Page,
    oidc_provider_factory: OidcProviderFactory,
    relying_party: RelyingParty,
) -> None:
    provider = oidc_provider_factory(
        redirect_uris=[relying_party.redirect_uri],
        token_endpoint_auth_method="client_secret_post",
    )
    flow = await start_flow(provider, relying_party)
    await page.goto(flow.authorize_url())
    await sign_in(page, "bob", "demo-bob-password")
    code = await flow.code(0)
    wrong = Flow(
        RunningProvider(
            provider.issuer, provider.client_id, "not-the-secret", {}, provider.log_path
        ),
        relying_party,
        flow.discovery,
        verifier=flow.verifier,
    )
    refused, answer = await wrong.tokens(code, post_secret=True)
    assert (refused, answer["error"]) == (401, "invalid_client")

    status, tokens = await flow.tokens(code, post_secret=True)
    assert status == 200, tokens
    assert (await flow.id_token_claims(tokens))["sub"] == "bob"


async def test_pkce_is_required_and_a_wrong_verifier_is_refused(
    page: Page, provider: RunningProvider, relying_party: RelyingParty
) -> None:
    flow = await start_flow(provider, relying_party)
    url = flow.authorize_url().replace("code_challenge_method=S256", "code_challenge_method=plain")
    await page.goto(url)
    answer = relying_party.callbacks[-1]
    assert (answer["error"], answer["state"]) == ("invalid_request", flow.state), answer

    await page.goto(flow.authorize_url())
    await sign_in(page, "alice", "demo-alice-password")
    code = await flow.code(1)
    flow.verifier = secrets.token_urlsafe(48)
    refused, answer = await flow.tokens(code)
    assert (refused, answer["error"]) == (400, "invalid_grant")


async def test_a_second_factor_account_asked_for_mfa_enters_its_code(
    page: Page, provider: RunningProvider, relying_party: RelyingParty
) -> None:
    flow = await start_flow(provider, relying_party)
    await page.goto(flow.authorize_url(acr_values=ACR_MFA))
    await sign_in(page, "carol", "demo-carol-password")
    await page.locator("#otp-code").wait_for()
    await page.screenshot(path=artefact_path("oidc-provider-second-factor.png"), full_page=True)
    await enter_code(page, "000000")
    assert "Wrong one-time code" in await page.locator(".error").inner_text()
    await enter_code(page, provider.accounts["carol"].otp or "")
    status, tokens = await flow.tokens(await flow.code(0))

    assert status == 200, tokens
    claims = await flow.id_token_claims(tokens)
    assert (claims["sub"], claims["acr"], claims["amr"]) == ("carol", ACR_MFA, AMR_MFA)


async def test_a_password_session_steps_up_when_mfa_is_asked(
    page: Page, provider: RunningProvider, relying_party: RelyingParty
) -> None:
    flow = await start_flow(provider, relying_party)
    first = await password_sign_in(page, flow, "dave", "demo-dave-password")
    assert (first["acr"], first["amr"]) == (ACR_PWD, AMR_PWD)

    again = await start_flow(provider, relying_party)
    await page.goto(again.authorize_url(acr_values=ACR_MFA, max_age="300"))
    await sign_in(page, "dave", "demo-dave-password")
    await enter_code(page, provider.accounts["dave"].otp or "")
    status, tokens = await again.tokens(await again.code(1))
    assert status == 200, tokens
    stepped = await again.id_token_claims(tokens)
    assert (stepped["acr"], stepped["amr"]) == (ACR_MFA, AMR_MFA)
    assert stepped["auth_time"] >= first["auth_time"]


async def test_an_account_without_a_second_factor_gets_the_lower_acr(
    page: Page, provider: RunningProvider, relying_party: RelyingParty
) -> None:
    flow = await start_flow(provider, relying_party)
    claims = await password_sign_in(page, flow, "alice", "demo-alice-password", acr_values=ACR_MFA)
    assert (claims["acr"], claims["amr"]) == (ACR_PWD, AMR_PWD)


@pytest.mark.parametrize("forcing", [{"prompt": "login"}, {"max_age": "0"}], ids=json.dumps)
async def test_prompt_login_and_max_age_force_a_fresh_login(
    page: Page, provider: RunningProvider, relying_party: RelyingParty, forcing: dict[str, str]
) -> None:
    flow = await start_flow(provider, relying_party)
    await password_sign_in(page, flow, "bob", "demo-bob-password")

    silent = await start_flow(provider, relying_party)
    await page.goto(silent.authorize_url())
    status, tokens = await silent.tokens(await silent.code(1))
    assert status == 200, "the provider's session signs in again without a form"

    forced = await start_flow(provider, relying_party)
    await page.goto(forced.authorize_url(**forcing))
    await page.locator("#login-name").wait_for()
    assert len(relying_party.callbacks) == 2, "no redirect before the fresh login"
    await sign_in(page, "bob", "demo-bob-password")
    status, tokens = await forced.tokens(await forced.code(2))
    assert status == 200, tokens
    assert (await forced.id_token_claims(tokens))["sub"] == "bob"


async def test_rp_initiated_logout_ends_the_provider_session(
    page: Page, provider: RunningProvider, relying_party: RelyingParty
) -> None:
    flow = await start_flow(provider, relying_party)
    seen = len(relying_party.callbacks)
    await page.goto(flow.authorize_url())
    await sign_in(page, "tess", "demo-tess-password")
    status, tokens = await flow.tokens(await flow.code(seen))
    assert status == 200, tokens

    query = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": relying_party.post_logout_uri,
        "state": "bye",
    }
    await page.goto(f"{flow.discovery['end_session_endpoint']}?{urlencode(query)}")
    await page.screenshot(path=artefact_path("oidc-provider-logout.png"), full_page=True)
    await page.get_by_role("button", name="Sign out").click()
    await eventually(lambda: holds(bool(relying_party.logouts)), what="post-logout redirect")
    assert relying_party.logouts == [{"state": "bye"}]

    after = await start_flow(provider, relying_party)
    await page.goto(after.authorize_url())
    await page.locator("#login-name").wait_for()
    assert urlsplit(page.url).path.startswith("/interaction/")
    assert parse_qs(urlsplit(page.url).query) == {}

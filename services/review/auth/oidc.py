"""The console's OpenID Connect relying party: discovery, the authorization request
(code flow with PKCE S256, state and nonce) and the code exchange, whose ID token is
checked with joserfc: signature by the provider's JWKS, iss, aud (and azp), exp, iat,
nonce, and auth_time against a requested max_age. No JWT code of our own."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, urlencode

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from casework.contract.decision import SignerAuthentication

LEEWAY = 60  # seconds of clock skew allowed between review and the provider
DISCOVERY = "/.well-known/openid-configuration"


class OidcError(Exception):
    """The provider answered something review cannot accept; the message says what."""


@dataclass(frozen=True)
class OidcClientConfig:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str = "openid email profile"


@dataclass(frozen=True)
class AuthRequest:
    """What one authorization request needs kept until its callback (server-side)."""

    state: str
    nonce: str
    code_verifier: str
    max_age: int | None = None
    acr_values: tuple[str, ...] = ()

    @classmethod
    def new(cls, max_age: int | None = None, acr_values: tuple[str, ...] = ()) -> AuthRequest:
        return cls(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
            max_age=max_age,
            acr_values=acr_values,
        )

    @property
    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SignedIn:
    """The checked ID token: its claims and how the person authenticated."""

    claims: dict[str, Any]
    authentication: SignerAuthentication
    id_token: str


@dataclass
class OidcProvider:
    config: OidcClientConfig
    metadata: dict[str, Any] = field(default_factory=dict)
    keys: KeySet | None = None

    async def discover(self, http: aiohttp.ClientSession) -> None:
        """Read the discovery document; its issuer must be the configured one exactly."""
        url = self.config.issuer.rstrip("/") + DISCOVERY
        async with http.get(url) as response:
            if response.status != 200:
                raise OidcError(f"discovery {url}: HTTP {response.status}")
            metadata = await response.json()
        if metadata.get("issuer") != self.config.issuer:
            raise OidcError(
                f"discovery {url}: issuer {metadata.get('issuer')!r} is not the configured"
                f" {self.config.issuer!r}"
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(key), str):
                raise OidcError(f"discovery {url}: no {key}")
        self.metadata = metadata

    async def _load_keys(self, http: aiohttp.ClientSession) -> KeySet:
        async with http.get(self.metadata["jwks_uri"]) as response:
            if response.status != 200:
                raise OidcError(f"jwks: HTTP {response.status}")
            self.keys = KeySet.import_key_set(await response.json())
        return self.keys

    @property
    def end_session_endpoint(self) -> str | None:
        value = self.metadata.get("end_session_endpoint")
        return value if isinstance(value, str) else None

    def authorization_url(self, request: AuthRequest, redirect_uri: str) -> str:
        params: dict[str, str] = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.config.scopes,
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": request.code_challenge,
            "code_challenge_method": "S256",
        }
        if request.max_age is not None:
            params["max_age"] = str(request.max_age)
            params["prompt"] = "login"
        if request.acr_values:
            params["acr_values"] = " ".join(request.acr_values)
        return str(self.metadata["authorization_endpoint"]) + "?" + urlencode(params)

    def logout_url(self, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        if self.end_session_endpoint is None:
            return None
        params = {"client_id": self.config.client_id}
        params["post_logout_redirect_uri"] = post_logout_redirect_uri
        if id_token:
            params["id_token_hint"] = id_token
        return self.end_session_endpoint + "?" + urlencode(params)

    async def exchange(
        self, http: aiohttp.ClientSession, code: str, request: AuthRequest, redirect_uri: str
    ) -> SignedIn:
        """Trade the code for tokens (client_secret_basic) and check the ID token."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": request.code_verifier,
        }
        basic = aiohttp.encode_basic_auth(_form_encode(self.config.client_id), _secret(self.config))
        headers = {"Authorization": basic}
        async with http.post(
            self.metadata["token_endpoint"], data=form, headers=headers
        ) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise OidcError(f"token endpoint: HTTP {response.status} {body.get('error', '')}")
        id_token = body.get("id_token") if isinstance(body, dict) else None
        if not isinstance(id_token, str):
            raise OidcError("token endpoint: no id_token in the answer")
        return await self.check_id_token(http, id_token, request)

    async def check_id_token(
        self, http: aiohttp.ClientSession, id_token: str, request: AuthRequest
    ) -> SignedIn:
        keys = self.keys or await self._load_keys(http)
        algorithms = self.metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in algorithms if a != "none"]
        try:
            token = jwt.decode(id_token, keys, algorithms=algorithms)
        except JoseError:  # perhaps rotated keys: fetch them once more
            try:
                token = jwt.decode(id_token, await self._load_keys(http), algorithms=algorithms)
            except JoseError as exc:
                raise OidcError(f"id_token: signature not valid ({exc.error})") from exc
        return SignedIn(
            validate_claims(token.claims, self.config, request), _how(token.claims), id_token
        )


def validate_claims(
    claims: dict[str, Any], config: OidcClientConfig, request: AuthRequest, now: int | None = None
) -> dict[str, Any]:
    """Check the ID token's claims (OpenID Connect Core 3.1.3.7); return them."""
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=LEEWAY,
        iss={"essential": True, "value": config.issuer},
        aud={"essential": True, "value": config.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": request.nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise OidcError(f"id_token: {exc.description or exc.error}") from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != config.client_id:
        raise OidcError("id_token: azp is not this client although aud names several")
    if request.max_age is not None:
        auth_time = claims.get("auth_time")
        if not isinstance(auth_time, int | float):
            raise OidcError("id_token: auth_time missing although max_age was asked")
        if (now or int(time.time())) - auth_time > request.max_age + LEEWAY:
            raise OidcError("id_token: the authentication is older than the max_age asked")
    return claims


def _how(claims: dict[str, Any]) -> SignerAuthentication:
    auth_time = claims.get("auth_time")
    amr = claims.get("amr")
    acr = claims.get("acr")
    return SignerAuthentication(
        method="oidc",
        acr=acr if isinstance(acr, str) else None,
        amr=[m for m in amr if isinstance(m, str)] if isinstance(amr, list) else [],
        auth_time=datetime.fromtimestamp(auth_time, UTC)
        if isinstance(auth_time, int | float)
        else None,
    )


def _form_encode(value: str) -> str:
    """client_secret_basic form-encodes id and secret before Basic (RFC 6749 2.3.1)."""
    return quote_plus(value)


def _secret(config: OidcClientConfig) -> str:
    return _form_encode(config.client_secret)

"""HTTP side of staff assertions for the services without a staff directory (the monitor,
notify): read ``Authorization: Bearer <assertion>``, verify it offline with review's
public keys (casework.assertions) and check the caller's roles against the policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from casework.assertions import AssertionRefused, StaffAssertion, verify
from casework.errors import Kind, Rejected

ASSERTION: web.RequestKey[StaffAssertion] = web.RequestKey("staff_assertion", StaffAssertion)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AssertionGate:
    """Who is calling, from a review-signed assertion for ``audience``; `Rejected` with
    kind UNAUTHENTICATED (no valid assertion) or FORBIDDEN (roles not allowed)."""

    def __init__(
        self,
        trusted: Mapping[str, Ed25519PublicKey],
        *,
        audience: str,
        allowed: Callable[[Iterable[str]], bool],
        clock: Callable[[], datetime],
    ) -> None:
        self.trusted = trusted
        self.audience = audience
        self.allowed = allowed
        self.clock = clock

    def check(self, token: str | None) -> StaffAssertion:
        if not token:
            raise unauthenticated("a staff assertion from review is required")
        try:
            assertion = verify(token, self.trusted, audience=self.audience, now=self.clock())
        except AssertionRefused as exc:
            raise unauthenticated(str(exc)) from None
        if not self.allowed(assertion.roles):
            raise Rejected.one(
                Kind.FORBIDDEN,
                "forbidden",
                "roles",
                "role_allows",
                f"{self.audience}: not for {assertion.staff_id}'s roles "
                f"({', '.join(assertion.roles) or 'none'})",
            )
        return assertion

    def middleware(self, protected: Callable[[web.Request], bool]) -> Middleware:
        """Bearer assertions required on every request ``protected`` says yes to."""

        @web.middleware
        async def require_assertion(request: web.Request, handler: Handler) -> web.StreamResponse:
            if protected(request):
                request[ASSERTION] = self.check(bearer(request))
            return await handler(request)

        return require_assertion


def bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def unauthenticated(message: str) -> Rejected:
    return Rejected.one(
        Kind.UNAUTHENTICATED,
        "unauthenticated",
        "Authorization",
        "staff_assertion",
        f"{message}: ask review (POST /api/v1/assertions) for a bearer token",
    )


def on_site(url: str, base: str) -> bool:
    """``url`` is on ``base``'s scheme, host and port, under its path: a safe place to
    send a browser back to (no open redirect)."""
    if not url.isprintable() or any(c in url for c in "\\\r\n\t "):
        return False
    target, site = urlsplit(url), urlsplit(base)
    if (target.scheme, target.netloc) != (site.scheme, site.netloc) or target.username:
        return False
    root = site.path.rstrip("/")
    return target.path == root or (target.path or "/").startswith(root + "/")

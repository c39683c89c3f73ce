"""Who is asking: a chain of authenticators, the first that recognises the request wins.

`Authenticator` is the extension point. Console sign-in through an OIDC provider
(entrypoints/console/oidc_routes.py) does not need one: its callback checks the ID token
(auth/oidc.py), maps its `sub`/`email` claim to a staff member (auth/claims.py) and calls
`SessionStore.start`, exactly as the password login does; then `SessionCookies` serves
every later request, CSRF included. Machine clients holding provider-issued access
tokens would get an `OidcBearerTokens` authenticator placed before `BearerTokens`.
Authorisation only sees the `Identity`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web

from services.review.auth.directory import LiveStaff
from services.review.auth.sessions import Session, SessionStore
from services.review.auth.token_uses import TokenUses
from services.review.domain.staff import StaffMember, token_digest

SESSION_COOKIE = "casework_session"


@dataclass(frozen=True)
class Identity:
    staff: StaffMember
    via: str  # "token" or "session"
    session: Session | None = None


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> Identity | None: ...


class BearerTokens:
    """`Authorization: Bearer <token>` with an API token from the staff directory, until
    its expiry; each use is noted (to within a minute) for the token's "last used" time."""

    def __init__(self, staff: LiveStaff, uses: TokenUses | None = None) -> None:
        self.staff = staff
        self.uses = uses

    async def authenticate(self, request: web.Request) -> Identity | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        member = (await self.staff.fresh()).by_token(token)
        if member is None or member.disabled:
            return None
        now = datetime.now(UTC)
        digest = token_digest(token)
        named = next((t for t in member.tokens if t.sha256 == digest), None)
        if named is not None and named.expired(now):
            return None  # past its expiry: as if it did not exist (401)
        if self.uses is not None and named is not None:
            await self.uses.used(digest, member.id, named.name, now)
        return Identity(member, "token")


class SessionCookies:
    """The console's session cookie, looked up in the session store."""

    def __init__(self, staff: LiveStaff, sessions: SessionStore) -> None:
        self.staff = staff
        self.sessions = sessions

    async def authenticate(self, request: web.Request) -> Identity | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        session = await self.sessions.find(cookie, datetime.now(UTC))
        if session is None:
            return None
        member = (await self.staff.fresh()).by_id(session.staff_id)
        return Identity(member, "session", session) if member and not member.disabled else None


async def identify(authenticators: list[Authenticator], request: web.Request) -> Identity | None:
    for authenticator in authenticators:
        identity = await authenticator.authenticate(request)
        if identity is not None:
            return identity
    return None

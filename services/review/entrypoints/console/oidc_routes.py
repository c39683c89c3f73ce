"""Console sign-in through the organisation's identity provider (OIDC), and the step-up
a sign-off at some levels needs: the person goes through the provider again (prompt=login,
max_age, acr_values) and comes back to the case with what they had typed kept."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from casework.policy.review import StepUp
from services.review.auth.audit import SignIns
from services.review.auth.authenticators import SESSION_COOKIE
from services.review.auth.claims import Claim, match_staff
from services.review.auth.directory import LiveStaff
from services.review.auth.middleware import current_identity
from services.review.auth.oidc import AuthRequest, OidcError, OidcProvider, SignedIn
from services.review.auth.pending import PendingLogin, PendingLogins, SignOffDrafts
from services.review.auth.sessions import Session, SessionStore
from services.review.domain.stepup import step_up_shortfall
from services.review.entrypoints.console.auth_routes import LOGIN_PATH, local_path, secure_cookies
from services.review.entrypoints.console.policy_words import PolicyWords
from services.review.entrypoints.console.render import render

CALLBACK_PATH = "/console/oidc/callback"
STEP_UP_PATH = "/console/oidc/step-up"
STATE_COOKIE = "console_oidc_state"
STATE_COOKIE_PATH = "/console/oidc"


@dataclass
class OidcSettings:
    claim: Claim
    public_url: str | None
    secure_cookies: bool | None


class OidcRoutes:
    def __init__(
        self,
        provider: OidcProvider,
        settings: OidcSettings,
        staff: LiveStaff,
        sessions: SessionStore,
        pending: PendingLogins,
        drafts: SignOffDrafts,
        sign_ins: SignIns,
        step_up: Mapping[str, StepUp],
        words: PolicyWords | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.staff = staff
        self.sessions = sessions
        self.pending = pending
        self.drafts = drafts
        self.sign_ins = sign_ins
        self.step_up = step_up
        # The level's title in the page's language on the step-up page (None: its id).
        self.words = words
        self._http: aiohttp.ClientSession | None = None

    def register(self, app: web.Application) -> None:
        app.router.add_get("/console/oidc/login", self.login)
        app.router.add_get(STEP_UP_PATH, self.step_up_page)
        app.router.add_get(STEP_UP_PATH + "/go", self.step_up_login)
        app.router.add_get(CALLBACK_PATH, self.callback)
        app.on_cleanup.append(self._close)

    async def _close(self, _app: web.Application) -> None:
        if self._http is not None:
            await self._http.close()

    async def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        if not self.provider.metadata:
            await self.provider.discover(self._http)
        return self._http

    def base_url(self, request: web.Request) -> str:
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return f"{request.scheme}://{request.host}"

    def secure(self, request: web.Request) -> bool:
        return secure_cookies(
            self.settings.secure_cookies, self.settings.public_url, request.scheme
        )

    # -- going to the provider ----------------------------------------------------------

    async def login(self, request: web.Request) -> web.StreamResponse:
        pending = PendingLogin(AuthRequest.new(), local_path(request.query.get("next")))
        return await self._to_provider(request, pending)

    async def step_up_page(self, request: web.Request) -> web.StreamResponse:
        """Why the signer goes to the provider again, and the link that takes them. A page
        of its own: the console's CSP (form-action 'self') stops a form's redirect to it."""
        identity = current_identity(request)
        level = request.query.get("level", "")
        next_path = local_path(request.query.get("next"))
        rule = self.step_up.get(level)
        if rule is None:
            raise web.HTTPSeeOther(next_path)
        go = f"{STEP_UP_PATH}/go?" + urlencode({"level": level, "next": next_path})
        return render(
            request,
            "step_up.html",
            me=identity.staff,
            csrf=identity.session.csrf_token if identity.session else "",
            level=level,
            words=self.words,
            minutes=max(1, rule.max_age_seconds // 60),
            go=go,
            back=next_path,
        )

    async def step_up_login(self, request: web.Request) -> web.StreamResponse:
        """Sign in again, freshly and strongly enough for the level about to be signed."""
        identity = current_identity(request)
        level = request.query.get("level", "")
        rule = self.step_up.get(level)
        if rule is None or identity.session is None:
            raise web.HTTPSeeOther(local_path(request.query.get("next")))
        auth = AuthRequest.new(max_age=rule.max_age_seconds, acr_values=tuple(rule.acr_values))
        pending = PendingLogin(
            auth,
            local_path(request.query.get("next")),
            step_up_level=level,
            staff_id=identity.staff.id,
            session_id=identity.session.id,
        )
        return await self._to_provider(request, pending)

    async def _to_provider(self, request: web.Request, pending: PendingLogin) -> web.StreamResponse:
        try:
            await self.http()
        except (OidcError, aiohttp.ClientError, TimeoutError):
            return self._refused(request, "provider", 503)
        await self.pending.keep(pending, datetime.now(UTC))
        redirect_uri = self.base_url(request) + CALLBACK_PATH
        response = web.HTTPSeeOther(self.provider.authorization_url(pending.request, redirect_uri))
        # The state is bound to this browser too: a callback URL handed to someone else's
        # browser does not sign that browser in (login CSRF).
        response.set_cookie(
            STATE_COOKIE,
            pending.request.state,
            httponly=True,
            samesite="Lax",
            secure=self.secure(request),
            path=STATE_COOKIE_PATH,
            max_age=600,
        )
        raise response

    # -- coming back -------------------------------------------------------------------

    async def callback(self, request: web.Request) -> web.StreamResponse:
        now = datetime.now(UTC)
        state = request.query.get("state", "")
        bound = request.cookies.get(STATE_COOKIE, "")
        if not (state and bound and hmac.compare_digest(state, bound)):
            return self._refused(request, "expired", 400)
        pending = await self.pending.take(state, now)
        if pending is None:
            return self._refused(request, "expired", 400)
        code = request.query.get("code", "")
        if request.query.get("error") or not code:
            return self._refused(request, "provider", 401)
        issuer = request.query.get("iss")  # RFC 9207: the answer names who gave it
        if issuer is not None and issuer != self.provider.config.issuer:
            return self._refused(request, "provider", 401)
        try:
            http = await self.http()
            signed_in = await self.provider.exchange(
                http, code, pending.request, self.base_url(request) + CALLBACK_PATH
            )
        except (OidcError, aiohttp.ClientError, TimeoutError):
            return self._refused(request, "provider", 401)
        return await self._signed_in(request, pending, signed_in, now)

    async def _signed_in(
        self, request: web.Request, pending: PendingLogin, signed_in: SignedIn, now: datetime
    ) -> web.StreamResponse:
        match = match_staff(await self.staff.fresh(), signed_in.claims, self.settings.claim)
        login = f"oidc:{match.login}"
        member = match.member
        refusal = match.refusal
        if member is not None and pending.staff_id and member.id != pending.staff_id:
            refusal = "someone_else"
        if member is not None and not refusal and pending.step_up_level:
            rule = self.step_up.get(pending.step_up_level)
            if step_up_shortfall(rule, signed_in.authentication, now) is not None:
                refusal = "not_strong"
        staff_id = match.staff_id
        client = request.remote
        if member is None or refusal:
            await self.sign_ins.record(
                "failed",
                login=login,
                staff_id=staff_id,
                client=client,
                at=now,
                detail=f"oidc {refusal}",
            )
            logout = self.provider_logout(request, signed_in.id_token)
            return self._refused(request, refusal, 403, logout)
        detail = f"oidc step-up {pending.step_up_level}" if pending.step_up_level else "oidc"
        await self.sign_ins.record(
            "signed-in", login=login, staff_id=member.id, client=client, at=now, detail=detail
        )
        cookie, session = await self.sessions.start(
            member.id, now, signed_in.authentication, signed_in.id_token
        )
        if pending.session_id:  # a step-up: the typed sign-off follows the new session
            await self.drafts.move(pending.session_id, session.id, now)
            await self.sessions.end(request.cookies.get(SESSION_COOKIE, ""), now)
        response = web.HTTPSeeOther(pending.next_path)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            httponly=True,
            samesite="Lax",
            secure=self.secure(request),
            path="/",
            max_age=int(self.sessions.lifetime.total_seconds()),
        )
        response.del_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH)
        raise response

    def provider_logout(self, request: web.Request, id_token: str | None) -> str | None:
        return self.provider.logout_url(id_token, self.base_url(request) + LOGIN_PATH)

    def logout_link(self, request: web.Request, session: Session) -> str | None:
        """Where to sign out at the provider too, for a session it started."""
        if session.authentication is None or session.authentication.method != "oidc":
            return None
        return self.provider_logout(request, session.id_token)

    def _refused(
        self, request: web.Request, reason: str, status: int, logout: str | None = None
    ) -> web.Response:
        response = render(
            request, "signin_refused.html", status=status, reason=reason, provider_logout=logout
        )
        response.del_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH)
        return response

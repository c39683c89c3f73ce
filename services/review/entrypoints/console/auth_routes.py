"""Console sign-in and sign-out: password login starts a server-side session."""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from casework.contract.decision import SignerAuthentication
from casework.errors import FieldError, Kind, Rejected
from services.review.auth.audit import SignIns
from services.review.auth.authenticators import SESSION_COOKIE
from services.review.auth.directory import LiveStaff
from services.review.auth.logins import throttle_key
from services.review.auth.middleware import current_identity
from services.review.auth.passwords import verify_password
from services.review.auth.sessions import Session, SessionStore
from services.review.auth.throttle import SignInThrottle, Throttled
from services.review.entrypoints.console.render import render

# Login CSRF: the sign-in form is bound to a cookie it set (double submit), so another
# site cannot sign a browser in to an account of its choosing.
LOGIN_CSRF_COOKIE = "console_login_csrf"
LOGIN_PATH = "/console/login"

# Compared against when the login names nobody, so both paths take the same time.
_NO_ONE = "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


# Where to sign out at the identity provider for this session (None: nowhere).
ProviderLogout = Callable[[web.Request, Session], str | None]

MAX_LOGIN = 320  # the longest e-mail address
MAX_PASSWORD = 1000


def _field(form: MultiMapping[Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


class LoginRoutes:
    def __init__(
        self,
        staff: LiveStaff,
        sessions: SessionStore,
        secure_cookies: bool | None,
        throttle: SignInThrottle,
        sign_ins: SignIns,
        public_url: str | None = None,
        password_sign_in: bool = True,
        provider_logout: ProviderLogout | None = None,
    ) -> None:
        self.password_sign_in = password_sign_in
        # Set when an identity provider is configured: its sign-in link on the login
        # page, and its end-session link after signing out a session it started.
        self.provider_logout = provider_logout
        self.staff = staff
        self.sessions = sessions
        self.secure_cookies = secure_cookies
        self.public_url = public_url
        self.throttle = throttle
        self.sign_ins = sign_ins

    def secure(self, request: web.Request) -> bool:
        """Cookies are `Secure` when served over https: an explicit setting wins, else
        the public URL's scheme, else the request's."""
        return secure_cookies(self.secure_cookies, self.public_url, request.scheme)

    def register(self, app: web.Application) -> None:
        app.router.add_get("/console/login", self.login_page)
        app.router.add_post("/console/login", self.login)
        app.router.add_post("/console/logout", self.logout)

    async def login_page(self, request: web.Request) -> web.Response:
        return self._login_form(request, 200, local_path(request.query.get("next")), "", [])

    def _login_form(
        self,
        request: web.Request,
        status: int,
        next_path: str,
        login: str,
        problems: list[FieldError],
    ) -> web.Response:
        token = secrets.token_urlsafe(32)
        response = render(
            request,
            "login.html",
            status=status,
            next_path=next_path,
            login=login,
            problems=problems,
            csrf=token,
            password_sign_in=self.password_sign_in,
            oidc_sign_in=self.provider_logout is not None,
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=self.secure(request),
            path=LOGIN_PATH,
            max_age=3600,
        )
        return response

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        login = _field(form, "login")
        password = _field(form, "password")
        next_path = local_path(_field(form, "next"))
        if not self.password_sign_in:
            problem = FieldError(
                "password", "password_sign_in_enabled", "password sign-in is switched off"
            )
            return self._login_form(request, 403, next_path, "", [problem])
        problems = _field_problems(login, password)
        if problems:
            return self._login_form(request, 422, next_path, login[:MAX_LOGIN], problems)
        sent = str(form.get("csrf_token", ""))
        bound = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not (sent and bound and hmac.compare_digest(sent, bound)):
            problem = FieldError(
                "csrf_token", "matches_cookie", "the sign-in form expired; please try again"
            )
            return self._login_form(request, 403, next_path, login, [problem])
        member = (await self.staff.fresh()).by_login(login)
        staff_id = member.id if member else None
        account = throttle_key(login, staff_id)  # the account resolved, not the text typed
        client = request.remote
        now = datetime.now(UTC)
        try:
            await self.throttle.check(account=account, client=client, now=now)
        except Throttled as exc:
            await self.sign_ins.record(
                "throttled", login=login, staff_id=staff_id, client=client, at=now, detail=exc.scope
            )
            minutes = math.ceil(exc.retry_after / 60)
            problem = FieldError(
                "login",
                "throttled",
                f"too many failed sign-ins for this {exc.scope}; try again in {minutes} min",
            )
            response = self._login_form(request, 429, next_path, login, [problem])
            response.headers["Retry-After"] = str(math.ceil(exc.retry_after))
            return response
        matched = verify_password(password, member.password_hash if member else _NO_ONE)
        if member is None or not matched or member.disabled:
            await self.throttle.failed(account=account, client=client, now=now)
            await self.sign_ins.record(
                "failed",
                login=login,
                staff_id=staff_id,
                client=client,
                at=now,
                detail="disabled" if member and member.disabled and matched else "",
            )
            problem = FieldError("password", "matches_account", "wrong login or password")
            return self._login_form(request, 401, next_path, login, [problem])
        await self.sign_ins.record(
            "signed-in", login=login, staff_id=member.id, client=client, at=now
        )
        raise await self._session_started(request, member.id, now, next_path)

    async def _session_started(
        self, request: web.Request, staff_id: str, now: datetime, next_path: str
    ) -> web.HTTPSeeOther:
        """The redirect onwards, carrying the new session's cookie."""
        how = SignerAuthentication(method="password", auth_time=now)
        cookie, _ = await self.sessions.start(staff_id, now, how)
        response = web.HTTPSeeOther(next_path)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            httponly=True,
            samesite="Lax",
            secure=self.secure(request),
            path="/",
            max_age=int(self.sessions.lifetime.total_seconds()),
        )
        response.del_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        identity = current_identity(request)
        if identity.session is None:
            raise Rejected.one(
                Kind.INVALID, "not_a_session", "Cookie", "session", "sign out ends a session"
            )
        await self.sessions.end(request.cookies.get(SESSION_COOKIE, ""), datetime.now(UTC))
        link = self.provider_logout(request, identity.session) if self.provider_logout else None
        if link is not None:  # signed in at the provider: offer to sign out there too
            page = render(request, "signed_out.html", provider_logout=link)
            page.del_cookie(SESSION_COOKIE, path="/")
            return page
        response = web.HTTPSeeOther("/console/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response


def secure_cookies(explicit: bool | None, public_url: str | None, scheme: str) -> bool:
    if explicit is not None:
        return explicit
    if public_url:
        return public_url.strip().lower().startswith("https://")
    return scheme == "https"


def local_path(target: str | None) -> str:
    """Only a path inside the console: never an open redirect."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


def _field_problems(login: str, password: str) -> list[FieldError]:
    missing = [
        FieldError(name, "required", f"{name}: required")
        for name, value in (("login", login), ("password", password))
        if not value
    ]
    too_long = [
        FieldError(name, "max_length", f"{name}: at most {limit} characters")
        for name, value, limit in (
            ("login", login, MAX_LOGIN),
            ("password", password, MAX_PASSWORD),
        )
        if len(value) > limit
    ]
    return missing + too_long

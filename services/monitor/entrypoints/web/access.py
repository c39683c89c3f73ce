"""Staff access to the monitor: review-signed assertions (casework.assertions).

- the JSON API (``/api/…``) takes ``Authorization: Bearer <assertion>``;
- pages (``/``, ``/live``, ``/events``) take the session cookie set by ``/auth/callback``,
  which holds the verified assertion itself (re-verified on every request, so the
  session ends when the assertion does); without one, a page request is sent to
  review's console hand-off, which signs the member in and comes back here;
- ``/healthz``, ``/livez``, ``/metrics`` (aggregates only, no case data) and the static
  files stay public.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from aiohttp import web

from casework.assertion_auth import ASSERTION, AssertionGate, Handler, bearer, on_site
from casework.errors import Kind, Rejected

SESSION_COOKIE = "monitor_session"
CALLBACK = "/auth/callback"
LOGOUT = "/auth/logout"
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/metrics", CALLBACK, LOGOUT})
PUBLIC_PREFIXES = ("/static/",)
# Pages: CSS and the live-update script from here only; updates come over /events.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}


def is_public(request: web.Request) -> bool:
    return request.path in PUBLIC_PATHS or request.path.startswith(PUBLIC_PREFIXES)


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


class MonitorAccess:
    def __init__(
        self,
        gate: AssertionGate,
        *,
        public_url: str,
        handoff_url: Callable[[str], str],
        secure_cookies: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self.gate = gate
        self.public_url = public_url.rstrip("/")
        self.handoff_url = handoff_url
        self.secure = secure_cookies
        self.clock = clock

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)
        app.router.add_get(CALLBACK, self.callback)
        app.router.add_post(LOGOUT, self.logout)
        app.on_response_prepare.append(_page_headers)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_public(request) or request.match_info.http_exception is not None:
            return await handler(request)
        token = bearer(request)
        if token is None and not is_api(request):
            token = request.cookies.get(SESSION_COOKIE)
        try:
            request[ASSERTION] = self.gate.check(token)
        except Rejected as exc:
            if is_api(request) or request.method != "GET":
                raise
            if exc.kind is Kind.UNAUTHENTICATED:
                back = f"{self.public_url}{request.path_qs}"
                response = web.HTTPSeeOther(self.handoff_url(back))
                response.del_cookie(SESSION_COOKIE, path="/")
                raise response from None
            return _refusal(exc)
        return await handler(request)

    async def callback(self, request: web.Request) -> web.StreamResponse:
        """Where review's hand-off lands: keep the assertion as the session, go back."""
        token = request.query.get("token", "")
        try:
            assertion = self.gate.check(token)
        except Rejected as exc:
            return _refusal(exc)
        back = request.query.get("return", "")
        if not on_site(back, self.public_url):
            back = f"{self.public_url}/"
        parts = urlsplit(back)
        response = web.HTTPSeeOther(parts.path + (f"?{parts.query}" if parts.query else ""))
        lifetime = int((assertion.expires_at - self.clock()).total_seconds())
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=max(lifetime, 0),
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self.secure,
        )
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        response = web.HTTPSeeOther("/")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response


def _refusal(exc: Rejected) -> web.Response:
    status = 401 if exc.kind is Kind.UNAUTHENTICATED else 403
    messages = "".join(f"<li>{_escape(e.message)}</li>" for e in exc.errors)
    title = "Sign-in failed" if status == 401 else "Not allowed"
    return web.Response(
        status=status,
        content_type="text/html",
        text=(
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<link rel="stylesheet" href="/static/dashboard.css"></head><body>'
            f'<main id="refused"><h1>{title}</h1><ul>{messages}</ul></main></body></html>'
        ),
    )


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


async def _page_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.content_type in ("text/html", "text/event-stream") or response.status in (
        302,
        303,
    ):
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)

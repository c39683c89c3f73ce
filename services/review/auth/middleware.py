"""The access middleware: identify the caller, apply the endpoint's rule, check CSRF on
session requests that change state, and log every case read it lets through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from aiohttp import web

from casework.errors import Kind, Rejected
from casework.policy.access import AccessRules
from services.review.auth.audit import CaseReads
from services.review.auth.authenticators import Authenticator, Identity, identify
from services.review.auth.endpoints import PUBLIC, rule_for
from services.review.auth.policy import authorize
from services.review.domain.permissions import Action
from services.review.domain.staff import StaffMember

IDENTITY: web.RequestKey[Identity] = web.RequestKey("identity", Identity)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CONSOLE = "/console"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorPage = Callable[[web.Request, Rejected], Awaitable[web.StreamResponse]]


def current_identity(request: web.Request) -> Identity:
    identity = request.get(IDENTITY)
    if not isinstance(identity, Identity):
        raise _unauthenticated()
    return identity


def current_staff(request: web.Request) -> StaffMember:
    return current_identity(request).staff


@dataclass
class AccessControl:
    authenticators: list[Authenticator]
    rules: AccessRules
    reads: CaseReads
    console_error: ErrorPage | None = None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        if resource is None or request.match_info.http_exception is not None:
            return await handler(request)  # no such route: 404/405 as usual
        try:
            return await self._guarded(request, handler, resource.canonical)
        except Rejected as exc:
            if self.console_error is not None and _is_console(request):
                return await self._console_refusal(request, exc)
            raise

    async def _guarded(
        self, request: web.Request, handler: Handler, route: str
    ) -> web.StreamResponse:
        rule = rule_for(request.method, route)
        if rule is None:
            raise Rejected.one(
                Kind.FORBIDDEN,
                "no_access_rule",
                "route",
                "has_rule",
                f"{request.method} {route} has no rule in services/review/auth/endpoints.py",
            )
        if rule is PUBLIC:
            return await handler(request)
        identity = await identify(self.authenticators, request)
        if identity is None:
            raise _unauthenticated()
        if identity.session is not None and request.method not in SAFE_METHODS:
            await _check_csrf(request, identity)
        if isinstance(rule, Action):
            authorize(identity.staff, rule, rules=self.rules)
        request[IDENTITY] = identity
        response = await handler(request)
        case_id = request.match_info.get("case_id")
        if rule is Action.READ_CASE and case_id and 200 <= response.status < 300:
            await self.reads.record(
                case_id,
                identity.staff.id,
                "console" if _is_console(request) else "api",
                request.path,
                datetime.now(UTC),
            )
        return response

    async def _console_refusal(self, request: web.Request, exc: Rejected) -> web.StreamResponse:
        if exc.kind is Kind.UNAUTHENTICATED and request.method in SAFE_METHODS:
            raise web.HTTPSeeOther(f"{CONSOLE}/login?next={quote(request.path_qs, safe='')}")
        assert self.console_error is not None
        return await self.console_error(request, exc)


async def _check_csrf(request: web.Request, identity: Identity) -> None:
    assert identity.session is not None
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not identity.session.csrf_matches(sent):
        raise Rejected.one(
            Kind.FORBIDDEN,
            "csrf_failed",
            CSRF_FIELD,
            "matches_session",
            "the form's CSRF token is missing or not this session's; reload the page",
        )


def _unauthenticated() -> Rejected:
    return Rejected.one(
        Kind.UNAUTHENTICATED,
        "unauthenticated",
        "Authorization",
        "staff_identity",
        "a valid staff bearer token or console session is required",
    )


def _is_console(request: web.Request) -> bool:
    return request.path == CONSOLE or request.path.startswith(CONSOLE + "/")

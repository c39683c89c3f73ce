"""Staff assertions for the services that have no staff directory (the monitor, notify):
review signs a short-lived token naming the signed-in staff member and their roles, and
those services verify it offline with review's public key (casework.assertions).

- ``POST /api/v1/assertions {"audience": "monitor"}`` (bearer token or console session)
  → ``{"token", "expires_at", "audience"}``, for roles the policy's ``access.audiences``
  allows for that audience;
- ``GET /console/handoff?audience=monitor&return=<url>`` (console session): a page that
  goes on at once to the monitor's ``/auth/callback`` with a token; ``return`` must be on
  the monitor's public URL (``MONITOR_PUBLIC_URL``), so the hand-off is no open redirect.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import Literal
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from casework import assertions
from casework.assertion_auth import on_site
from casework.errors import Kind, Rejected
from casework.http import read_json
from casework.policy.access import AccessRules
from casework.signing import Signer
from services.review.auth.middleware import current_staff
from services.review.domain.staff import StaffMember
from services.review.entrypoints.openapi import OPERATIONS, Operation

ASSERTIONS_PATH = "/api/v1/assertions"
HANDOFF_PATH = "/console/handoff"
CALLBACK_PATH = "/auth/callback"
NO_STORE = {"Cache-Control": "no-store"}


class AssertionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audience: Literal["monitor", "notify"]


class AssertionIssued(BaseModel):
    token: str
    expires_at: datetime
    audience: Literal["monitor", "notify"]


OPERATION: Operation = (
    "post",
    ASSERTIONS_PATH,
    "A short-lived signed staff assertion for the monitor or notify (casework.assertions)",
    AssertionRequest,
    AssertionIssued,
    200,
)


class AssertionRoutes:
    def __init__(
        self,
        signer: Signer,
        rules: AccessRules,
        monitor_public_url: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.signer = signer
        self.rules = rules
        self.monitor_url = monitor_public_url.rstrip("/")
        self.clock = clock

    def register(self, app: web.Application) -> None:
        app.router.add_post(ASSERTIONS_PATH, self.issue)
        app.router.add_get(HANDOFF_PATH, self.handoff)
        if OPERATIONS in app:
            app[OPERATIONS].append(OPERATION)

    def _token(self, staff: StaffMember, audience: str) -> tuple[str, datetime]:
        if not self.rules.may_use(audience, staff.roles):
            allowed = ", ".join(self.rules.audiences.get(audience, [])) or "none"
            raise Rejected.one(
                Kind.FORBIDDEN,
                "forbidden",
                "audience",
                "role_allows",
                f"{audience}: not for {staff.id}'s roles "
                f"({', '.join(staff.roles) or 'none'}; allowed: {allowed})",
            )
        return assertions.issue(
            self.signer.private_key,
            staff_id=staff.id,
            roles=[str(r) for r in staff.roles],
            audience=audience,
            now=self.clock(),
        )

    async def issue(self, request: web.Request) -> web.Response:
        asked = await read_json(request, AssertionRequest, strict=True)
        token, expires = self._token(current_staff(request), asked.audience)
        issued = AssertionIssued(token=token, expires_at=expires, audience=asked.audience)
        return web.json_response(issued.model_dump(mode="json"), headers=NO_STORE)

    async def handoff(self, request: web.Request) -> web.Response:
        audience = request.query.get("audience", "")
        if audience != "monitor":
            raise Rejected.one(
                Kind.INVALID,
                "invalid_handoff",
                "audience",
                "one_of",
                "only the monitor has pages to hand off to",
            )
        back = request.query.get("return") or f"{self.monitor_url}/"
        if not on_site(back, self.monitor_url):
            raise Rejected.one(
                Kind.INVALID,
                "invalid_handoff",
                "return",
                "on_monitor",
                f"must be a page of the monitor ({self.monitor_url})",
            )
        token, _ = self._token(current_staff(request), audience)
        target = f"{self.monitor_url}{CALLBACK_PATH}?{urlencode({'token': token, 'return': back})}"
        return handoff_page(target)


def handoff_page(target: str) -> web.Response:
    """A page that goes on to ``target`` at once (meta refresh, and a link). Not an HTTP
    redirect: after the sign-in form, the console's CSP (form-action 'self') would block a
    redirect to another origin. The token is in it, so: never cached, no referrer."""
    url = html.escape(target, quote=True)
    return web.Response(
        content_type="text/html",
        text=(
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="0;url={url}">'
            "<title>Signing in to the monitor</title></head><body>"
            f'<p><a id="continue" href="{url}">Continue to the monitor</a></p></body></html>'
        ),
        headers={
            **NO_STORE,
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        },
    )

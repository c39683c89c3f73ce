"""Staff access wired into review's app: the access middleware, sign-in, and the console."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from casework.errors import Rejected
from casework.http import STATUS_OF_KIND
from casework.runtime import Kit
from services.review.auth.audit import CaseReads
from services.review.auth.authenticators import BearerTokens, SessionCookies
from services.review.auth.middleware import AccessControl
from services.review.auth.policy import install
from services.review.auth.sessions import SESSIONS, SessionStore
from services.review.console.auth_routes import LoginRoutes
from services.review.console.render import render
from services.review.settings import ReviewSettings
from services.review.staff import StaffFile


async def add_staff_access(kit: Kit, app: web.Application, usecases: Any = None) -> StaffFile:
    """Guard every route of ``app`` and serve the console (its pages need ``usecases``)."""
    assert isinstance(kit.settings, ReviewSettings)
    rules = install(kit.policy)
    staff = StaffFile(kit.settings.staff_file, kit.policy)
    sessions = SessionStore(kit.store, timedelta(hours=rules.session_hours))
    await kit.store.ensure_index(SESSIONS, "staff_id")
    reads = CaseReads(kit.store)
    await reads.prepare()
    access = AccessControl(
        authenticators=[BearerTokens(staff), SessionCookies(staff, sessions)],
        rules=rules,
        reads=reads,
        console_error=_error_page,
    )
    app.middlewares.append(access.middleware)
    LoginRoutes(staff, sessions, kit.settings.secure_cookies).register(app)
    if usecases is not None:
        from services.review.console.routes import ConsoleRoutes

        ConsoleRoutes(usecases, kit.policy, rules, staff).register(app)
    return staff


async def _error_page(request: web.Request, exc: Rejected) -> web.StreamResponse:
    return render(request, "error.html", status=STATUS_OF_KIND[exc.kind], problems=exc.errors)

"""Staff access wired into review's app: the access middleware, sign-in, and the console."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from casework.errors import Rejected
from casework.http import STATUS_OF_KIND
from casework.runtime import Kit
from casework.signing import load_signer
from services.review.auth.admin import StaffAdmin
from services.review.auth.audit import CaseReads, SignIns
from services.review.auth.authenticators import BearerTokens, SessionCookies
from services.review.auth.directory import LiveStaff, open_directory
from services.review.auth.middleware import AccessControl
from services.review.auth.policy import install
from services.review.auth.purge import Purge
from services.review.auth.sessions import SESSIONS, SessionStore
from services.review.auth.throttle import SignInThrottle
from services.review.auth.token_uses import TokenUses
from services.review.domain.staff import StaffMember
from services.review.entrypoints.assertions import AssertionRoutes
from services.review.entrypoints.console.auth_routes import LoginRoutes
from services.review.entrypoints.console.render import render
from services.review.entrypoints.console.staff_routes import StaffPages
from services.review.entrypoints.staff_api import StaffAdminRoutes
from services.review.settings import ReviewSettings


@dataclass
class StaffAccess:
    staff: LiveStaff
    purge: Purge  # its `run` is a duty: expired sessions and old counters go


async def add_staff_access(
    kit: Kit, app: web.Application, usecases: Any = None, staff: LiveStaff | None = None
) -> StaffAccess:
    """Guard every route of ``app`` and serve the console (its pages need ``usecases``).
    ``staff`` is the directory `wire` opened; without it, it is opened here."""
    assert isinstance(kit.settings, ReviewSettings)
    rules = install(kit.policy)
    if staff is None:
        staff = await open_staff(kit)
    sessions = SessionStore(kit.store, timedelta(hours=rules.session_hours))
    await kit.store.ensure_index(SESSIONS, "staff_id")
    reads = CaseReads(kit.store)
    await reads.prepare()
    sign_ins = SignIns(kit.store)
    await sign_ins.prepare()
    throttle = SignInThrottle(kit.store, rules.sign_in)
    purge = Purge(kit.store, lambda: datetime.now(UTC), rules.purge_seconds)
    await purge.prepare()
    uses = TokenUses(kit.store)
    access = AccessControl(
        authenticators=[BearerTokens(staff, uses), SessionCookies(staff, sessions)],
        rules=rules,
        reads=reads,
        console_error=_error_page,
    )
    app.middlewares.append(access.middleware)
    LoginRoutes(
        staff,
        sessions,
        kit.settings.secure_cookies,
        throttle,
        sign_ins,
        public_url=kit.settings.public_url,
    ).register(app)
    AssertionRoutes(
        load_signer(kit.settings.signing_key_file),
        rules,
        kit.settings.monitor_public_url,
        lambda: datetime.now(UTC),
    ).register(app)
    admin = StaffAdmin(staff, rules, lambda: datetime.now(UTC), uses=uses)
    StaffAdminRoutes(admin).register(app)
    StaffPages(admin, kit.policy).register(app)
    if usecases is not None:
        from services.review.entrypoints.console.routes import ConsoleRoutes

        ConsoleRoutes(usecases, kit.policy, rules, staff).register(app)
        # Staff added or disabled since start-up: assignment sees the directory as it is.
        live = staff
        usecases.staff_by_id = lambda staff_id: _active(live.current().by_id(staff_id))
    return StaffAccess(staff=staff, purge=purge)


async def open_staff(kit: Kit) -> LiveStaff:
    """The stored staff directory, seeded from the staff file if the store has none."""
    assert isinstance(kit.settings, ReviewSettings)
    return await open_directory(
        kit.store,
        kit.policy,
        kit.settings.staff_file,
        kit.settings.staff_refresh_seconds,
        lambda: datetime.now(UTC),
    )


async def _error_page(request: web.Request, exc: Rejected) -> web.StreamResponse:
    return render(request, "error.html", status=STATUS_OF_KIND[exc.kind], problems=exc.errors)


def _active(member: StaffMember | None) -> StaffMember | None:
    return None if member is None or member.disabled else member

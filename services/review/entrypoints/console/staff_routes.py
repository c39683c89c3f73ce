"""The console's staff pages for the `admin` role, and the one-time password page.

Every change goes through StaffAdmin (audited there). A refused form comes back with
the fields named; a token or a password link is shown once, on the page that made it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from casework.errors import FieldError, Rejected
from casework.http import STATUS_OF_KIND, field_errors
from casework.policy import Policy
from services.review.auth.admin import (
    DisabledForm,
    NewStaffForm,
    PasswordForm,
    StaffAdmin,
    StaffUpdateForm,
    TokenForm,
)
from services.review.auth.middleware import current_identity
from services.review.entrypoints.console import forms
from services.review.entrypoints.console.policy_words import PolicyWords
from services.review.entrypoints.console.render import render

STAFF = "/console/staff"
MEMBER = STAFF + "/{staff_id}"
PASSWORD = "/console/password/{token}"


def _account_fields(form: forms.Form) -> dict[str, Any]:
    return {
        "roles": forms.choices(form, "roles"),
        "levels": forms.choices(form, "levels"),
        "languages": forms.items(form, "languages"),
    }


def _new_fields(form: forms.Form) -> dict[str, Any]:
    return {
        "id": forms.text(form, "id"),
        "name": forms.text(form, "name"),
        "email": forms.text(form, "email"),
        "wiki_accounts": forms.items(form, "wiki_accounts"),
        **_account_fields(form),
    }


class StaffPages:
    def __init__(self, admin: StaffAdmin, policy: Policy) -> None:
        self.admin = admin
        self.policy = policy

    def register(self, app: web.Application) -> None:
        app.router.add_get(STAFF, self.staff_page)
        app.router.add_post(STAFF, self.add)
        app.router.add_get(MEMBER, self.member_page)
        app.router.add_post(MEMBER, self.update)
        app.router.add_post(MEMBER + "/disabled", self.disabled)
        app.router.add_post(MEMBER + "/tokens", self.issue_token)
        app.router.add_post(MEMBER + "/tokens/revoke", self.revoke_token)
        app.router.add_post(MEMBER + "/password-link", self.password_link)
        app.router.add_get(PASSWORD, self.password_page)
        app.router.add_post(PASSWORD, self.set_password)

    # -- pages -------------------------------------------------------------------------

    def _common(self, request: web.Request) -> dict[str, Any]:
        identity = current_identity(request)
        return {
            "me": identity.staff,
            "csrf": identity.session.csrf_token if identity.session else "",
            "staff_admin": True,
            "roles": sorted(self.policy.access.roles),
            "levels": sorted(self.policy.signoff_levels),
            "words": PolicyWords(self.policy),
            "request_origin": f"{request.scheme}://{request.host}",
        }

    async def staff_page(
        self,
        request: web.Request,
        status: int = 200,
        problems: list[FieldError] | None = None,
        submitted: dict[str, Any] | None = None,
    ) -> web.Response:
        common = self._common(request)
        listing = await self.admin.all_staff(common["me"])
        changes = await self.admin.changes(common["me"], limit=50)
        return render(
            request,
            "staff.html",
            status=status,
            staff=listing.staff,
            changes=changes.changes,
            problems=problems or [],
            submitted=submitted or {},
            **common,
        )

    async def member_page(
        self,
        request: web.Request,
        status: int = 200,
        problems: list[FieldError] | None = None,
        shown: dict[str, str] | None = None,
    ) -> web.Response:
        common = self._common(request)
        member = await self.admin.member(common["me"], request.match_info["staff_id"])
        return render(
            request,
            "staff_member.html",
            status=status,
            member=member,
            now=datetime.now(UTC),
            problems=problems or [],
            shown=shown or {},
            **common,
        )

    # -- changes -----------------------------------------------------------------------

    async def add(self, request: web.Request) -> web.StreamResponse:
        raw = await request.post()
        submitted = {k: raw.getall(k) for k in raw if k != "csrf_token"}
        try:
            form = NewStaffForm.model_validate(_new_fields(raw))
            added = await self.admin.add(current_identity(request).staff, form)
        except ValidationError as exc:
            return await self.staff_page(request, 422, field_errors(exc), submitted)
        except Rejected as exc:
            return await self.staff_page(request, _status(exc), exc.errors, submitted)
        raise web.HTTPSeeOther(STAFF + "/" + added.id)

    def _member_post(
        self,
        model: type[BaseModel],
        parse: Callable[[forms.Form], dict[str, Any]],
        act: Callable[[Any, str, Any], Awaitable[Any]],
        shows: str | None = None,
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            staff_id = request.match_info["staff_id"]
            raw = await request.post()
            try:
                body = model.model_validate(parse(raw))
                result = await act(current_identity(request).staff, staff_id, body)
            except ValidationError as exc:
                return await self.member_page(request, 422, field_errors(exc))
            except Rejected as exc:
                return await self.member_page(request, _status(exc), exc.errors)
            if shows is not None:
                # A secret: shown on this response only, never stored in clear.
                return await self.member_page(request, shown={shows: getattr(result, shows)})
            raise web.HTTPSeeOther(STAFF + "/" + staff_id)

        return handler

    async def update(self, request: web.Request) -> web.StreamResponse:
        return await self._member_post(StaffUpdateForm, _account_fields, self.admin.update)(request)

    async def disabled(self, request: web.Request) -> web.StreamResponse:
        return await self._member_post(
            DisabledForm,
            lambda f: {"disabled": forms.tristate(f, "disabled")},
            self.admin.set_disabled,
        )(request)

    async def issue_token(self, request: web.Request) -> web.StreamResponse:
        return await self._member_post(
            TokenForm,
            lambda f: {
                "name": forms.text(f, "name"),
                "expires_on": forms.optional(f, "expires_on"),
            },
            self.admin.issue_token,
            "token",
        )(request)

    async def revoke_token(self, request: web.Request) -> web.StreamResponse:
        class Named(BaseModel):
            name: str

        async def revoke(actor: Any, staff_id: str, body: Named) -> Any:
            return await self.admin.revoke_token(actor, staff_id, body.name)

        return await self._member_post(Named, lambda f: {"name": forms.text(f, "name")}, revoke)(
            request
        )

    async def password_link(self, request: web.Request) -> web.StreamResponse:
        class Nothing(BaseModel):
            pass

        async def link(actor: Any, staff_id: str, body: Nothing) -> Any:
            return await self.admin.password_link(actor, staff_id)

        return await self._member_post(Nothing, lambda f: {}, link, "path")(request)

    # -- the one-time password page (public: the link is the credential) ----------------

    async def password_page(self, request: web.Request) -> web.Response:
        holder = await self.admin.link_holder(request.match_info["token"])
        return render(
            request,
            "password.html",
            status=200 if holder else 404,
            holder=holder,
            problems=[],
            done=False,
        )

    async def set_password(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        raw = await request.post()
        fields = {"password": raw.get("password", ""), "again": raw.get("again", "")}
        try:
            member = await self.admin.set_password(token, PasswordForm.model_validate(fields))
        except ValidationError as exc:
            holder = await self.admin.link_holder(token)
            return render(
                request,
                "password.html",
                status=422,
                holder=holder,
                problems=field_errors(exc),
                done=False,
            )
        except Rejected as exc:
            holder = await self.admin.link_holder(token)
            return render(
                request,
                "password.html",
                status=_status(exc),
                holder=holder,
                problems=exc.errors,
                done=False,
            )
        return render(request, "password.html", holder=member, problems=[], done=True)


def _status(exc: Rejected) -> int:
    return STATUS_OF_KIND[exc.kind]

"""The staff-management JSON API for the `admin` role: a thin adapter over StaffAdmin."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from casework.http import read_json
from services.review.auth.admin import (
    DisabledForm,
    IssuedToken,
    NewStaffForm,
    PasswordLink,
    StaffAdmin,
    StaffChanges,
    StaffList,
    StaffSummary,
    StaffUpdateForm,
    TokenForm,
    TokenList,
)
from services.review.auth.middleware import current_staff
from services.review.entrypoints.openapi import OPERATIONS, Operation

STAFF = "/api/v1/staff"
MEMBER = STAFF + "/{staff_id}"


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


class StaffAdminRoutes:
    def __init__(self, admin: StaffAdmin) -> None:
        self.admin = admin
        self.operations: list[Operation] = [
            ("get", STAFF, "List staff (admin)", None, StaffList, 200),
            ("post", STAFF, "Add a staff member (admin)", NewStaffForm, StaffSummary, 201),
            (
                "get",
                "/api/v1/staff-changes",
                "The staff change log (admin)",
                None,
                StaffChanges,
                200,
            ),
            ("get", MEMBER, "One staff member (admin)", None, StaffSummary, 200),
            (
                "put",
                MEMBER,
                "Set roles, levels and languages (admin)",
                StaffUpdateForm,
                StaffSummary,
                200,
            ),
            (
                "put",
                MEMBER + "/disabled",
                "Disable or enable (admin)",
                DisabledForm,
                StaffSummary,
                200,
            ),
            ("get", MEMBER + "/tokens", "A member's API tokens (admin)", None, TokenList, 200),
            ("post", MEMBER + "/tokens", "Issue an API token (admin)", TokenForm, IssuedToken, 201),
            (
                "delete",
                MEMBER + "/tokens/{name}",
                "Revoke an API token (admin)",
                None,
                StaffSummary,
                200,
            ),
            (
                "post",
                MEMBER + "/password-link",
                "A one-time link to set the password (admin)",
                None,
                PasswordLink,
                201,
            ),
        ]

    def register(self, app: web.Application) -> None:
        if OPERATIONS in app:
            app[OPERATIONS].extend(self.operations)
        app.router.add_get(STAFF, self.list_staff)
        app.router.add_post(STAFF, self.add)
        app.router.add_get("/api/v1/staff-changes", self.changes)
        app.router.add_get(MEMBER, self.member)
        app.router.add_put(MEMBER, self.update)
        app.router.add_put(MEMBER + "/disabled", self.disabled)
        app.router.add_get(MEMBER + "/tokens", self.tokens)
        app.router.add_post(MEMBER + "/tokens", self.issue_token)
        app.router.add_delete(MEMBER + "/tokens/{name}", self.revoke_token)
        app.router.add_post(MEMBER + "/password-link", self.password_link)

    async def list_staff(self, request: web.Request) -> web.Response:
        return _json(await self.admin.all_staff(current_staff(request)))

    async def changes(self, request: web.Request) -> web.Response:
        return _json(await self.admin.changes(current_staff(request)))

    async def member(self, request: web.Request) -> web.Response:
        staff_id = request.match_info["staff_id"]
        return _json(await self.admin.member(current_staff(request), staff_id))

    async def tokens(self, request: web.Request) -> web.Response:
        staff_id = request.match_info["staff_id"]
        return _json(await self.admin.tokens(current_staff(request), staff_id))

    async def add(self, request: web.Request) -> web.Response:
        form = await read_json(request, NewStaffForm, strict=True)
        return _json(await self.admin.add(current_staff(request), form), 201)

    async def update(self, request: web.Request) -> web.Response:
        form = await read_json(request, StaffUpdateForm, strict=True)
        staff_id = request.match_info["staff_id"]
        return _json(await self.admin.update(current_staff(request), staff_id, form))

    async def disabled(self, request: web.Request) -> web.Response:
        form = await read_json(request, DisabledForm, strict=True)
        staff_id = request.match_info["staff_id"]
        return _json(await self.admin.set_disabled(current_staff(request), staff_id, form))

    async def issue_token(self, request: web.Request) -> web.Response:
        form = await read_json(request, TokenForm, strict=True)
        staff_id = request.match_info["staff_id"]
        return _json(await self.admin.issue_token(current_staff(request), staff_id, form), 201)

    async def revoke_token(self, request: web.Request) -> web.Response:
        staff_id, name = request.match_info["staff_id"], request.match_info["name"]
        return _json(await self.admin.revoke_token(current_staff(request), staff_id, name))

    async def password_link(self, request: web.Request) -> web.Response:
        staff_id = request.match_info["staff_id"]
        return _json(await self.admin.password_link(current_staff(request), staff_id), 201)

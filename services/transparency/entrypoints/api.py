"""The JSON API: actions, inquiries and reports, described by /api/v1/openapi.json. GET
only. A bad query parameter is a 400 in casework.http's error shape, naming the field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from casework.errors import Rejected
from casework.http import error_body
from services.transparency.adapters.store import PortalStore
from services.transparency.domain.query import (
    check_case_id,
    parse_actions,
    parse_after,
    parse_period,
)
from services.transparency.entrypoints.openapi import openapi_document
from services.transparency.entrypoints.views import action_json, appeal_json, inquiry_json
from services.transparency.settings import TransparencySettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LANGUAGES = ("en", "ru")


def checked(handler: Handler) -> Handler:
    """A handler whose Rejected (a bad parameter) is a 400 with the field errors."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Rejected as exc:
            return web.json_response(error_body("invalid_query", exc.errors), status=400)

    return handle


def _not_found(what: str) -> web.Response:
    return web.json_response(error_body("not_found", [], f"no such {what}"), status=404)


class Api:
    def __init__(
        self, store: PortalStore, settings: TransparencySettings, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    def register(self, app: web.Application) -> None:
        add = app.router.add_get
        add("/api/v1/actions", checked(self.actions))
        add("/api/v1/actions/{case_id}", checked(self.action))
        add("/api/v1/inquiries", checked(self.inquiries))
        add("/api/v1/inquiries/{case_id}", checked(self.inquiry))
        add("/api/v1/reports/{year}", checked(self.report))
        add("/api/v1/openapi.json", self.openapi)

    def _language(self, request: web.Request) -> str:
        chosen = request.query.get("lang", "en")
        return chosen if chosen in LANGUAGES else "en"

    async def actions(self, request: web.Request) -> web.StreamResponse:
        query = parse_actions(request.query)
        records, cursor = await self.store.actions(query, self.settings.page_size)
        now, language = self.clock(), self._language(request)
        return web.json_response(
            {
                "items": [action_json(r, now, language) for r in records],
                "next": cursor.token() if cursor else None,
            }
        )

    async def action(self, request: web.Request) -> web.StreamResponse:
        case_id = check_case_id(request.match_info["case_id"])
        record = await self.store.action(case_id)
        if record is None or record.statement is None:
            return _not_found("action")
        appeals, inquiries = await self.store.about(case_id)
        body: dict[str, Any] = action_json(record, self.clock(), self._language(request))
        body["appeals"] = [appeal_json(a) for a in appeals]
        body["inquiries"] = [inquiry_json(i) for i in inquiries]
        return web.json_response(body)

    async def inquiries(self, request: web.Request) -> web.StreamResponse:
        records, cursor = await self.store.inquiries(
            parse_after(request.query), self.settings.page_size
        )
        return web.json_response(
            {
                "items": [inquiry_json(r) for r in records],
                "next": cursor.token() if cursor else None,
            }
        )

    async def inquiry(self, request: web.Request) -> web.StreamResponse:
        record = await self.store.inquiry(check_case_id(request.match_info["case_id"]))
        if record is None:
            return _not_found("inquiry")
        return web.json_response(inquiry_json(record))

    async def report(self, request: web.Request) -> web.StreamResponse:
        period = parse_period(request.match_info["year"], request.query.get("quarter"))
        report = await self.store.report(period, self._language(request))
        return web.json_response(report.as_json())

    async def openapi(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(openapi_document())

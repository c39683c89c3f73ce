"""The portal's HTTP routes: pages, CSV, the Atom feed and the JSON API. Every route is a
GET: nothing here writes. A bad query parameter is a 400 naming the field and the rule
(JSON for the API, a page for people), and nothing is read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from casework.errors import Rejected
from services.transparency.adapters.store import PortalStore
from services.transparency.domain.csv_export import report_csv
from services.transparency.domain.feed import action_entry, atom_feed, inquiry_entry
from services.transparency.domain.query import (
    check_case_id,
    parse_actions,
    parse_after,
    parse_period,
)
from services.transparency.domain.records import (
    ACTIONS,
    INQUIRIES,
    ActionRecord,
    InquiryRecord,
)
from services.transparency.domain.reports import Report
from services.transparency.domain.state import state_of, statement_in
from services.transparency.entrypoints import api
from services.transparency.entrypoints.links import dsa_statement, inquiry_form, self_link
from services.transparency.entrypoints.render import PAGES, page, time_zone
from services.transparency.entrypoints.views import deadline_met, inquiry_status
from services.transparency.settings import TransparencySettings

STATIC = Path(__file__).resolve().parent / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class Portal:
    def __init__(
        self, store: PortalStore, settings: TransparencySettings, clock: Clock = _now
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    def register(self, app: web.Application) -> None:
        add = app.router.add_get
        add("/", self.html(self.actions_page))
        add("/actions/{case_id}", self.html(self.action_page))
        add("/inquiries", self.html(self.inquiries_page))
        add("/inquiries/{case_id}", self.html(self.inquiry_page))
        add("/reports", self.this_year)
        add("/reports/{year:[^/.]+}", self.html(self.report_page))
        add("/reports/{year:[^/.]+}.csv", self.html(self.report_file))
        add("/reports/{year:[^/.]+}/{quarter:[^/.]+}", self.html(self.report_page))
        add("/reports/{year:[^/.]+}/{quarter:[^/.]+}.csv", self.html(self.report_file))
        add("/feed.atom", self.feed)
        api.Api(self.store, self.settings, self.clock).register(app)
        app.router.add_static("/static/transparency", STATIC)

    def html(self, handler: Handler) -> Handler:
        """A page handler whose Rejected (a bad query parameter) is a 400 page."""

        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except Rejected as exc:
                return page(request, "error.html", status=400, errors=exc.errors)

        return handle

    def _ask(self, request: web.Request, case_id: str | None = None) -> str:
        language = PAGES.page_language(request)
        return inquiry_form(self.settings.intake_public_url, language, case_id)

    async def actions_page(self, request: web.Request) -> web.StreamResponse:
        zone = time_zone(request)
        query = parse_actions(request.query)
        records, cursor = await self.store.actions(query, self.settings.page_size)
        language = PAGES.page_language(request)
        now = self.clock()
        rows = [
            (r, statement_in(r.statement, language), state_of(r, now).value)
            for r in records
            if r.statement is not None
        ]
        kept = dict(request.query)
        return page(
            request,
            "actions.html",
            zone=zone,
            rows=rows,
            query=query,
            next_page=self_link("/", kept, after=cursor.token()) if cursor else None,
            first_page=self_link("/", kept, after=None) if query.after else None,
            ask=self._ask(request),
        )

    async def action_page(self, request: web.Request) -> web.StreamResponse:
        zone = time_zone(request)
        case_id = check_case_id(request.match_info["case_id"])
        record = await self.store.action(case_id)
        if record is None or record.statement is None:
            return page(request, "not_found.html", status=404, zone=zone, ask=self._ask(request))
        appeals, inquiries = await self.store.about(case_id)
        dsa = record.dsa
        return page(
            request,
            "action.html",
            zone=zone,
            record=record,
            statement=record.statement,
            shown=statement_in(record.statement, PAGES.page_language(request)),
            state=state_of(record, self.clock()).value,
            appeals=appeals,
            inquiries=[(i, inquiry_status(i)) for i in inquiries],
            dsa_link=dsa_statement(self.settings.dsa_statement_url, dsa.dsa_id, dsa.url)
            if dsa
            else None,
            ask=self._ask(request, case_id),
        )

    async def inquiries_page(self, request: web.Request) -> web.StreamResponse:
        zone = time_zone(request)
        after = parse_after(request.query)
        records, cursor = await self.store.inquiries(after, self.settings.page_size)
        kept = dict(request.query)
        return page(
            request,
            "inquiries.html",
            zone=zone,
            rows=[(r, inquiry_status(r), deadline_met(r)) for r in records],
            next_page=self_link("/inquiries", kept, after=cursor.token()) if cursor else None,
            first_page=self_link("/inquiries", kept, after=None) if after else None,
            ask=self._ask(request),
        )

    async def inquiry_page(self, request: web.Request) -> web.StreamResponse:
        zone = time_zone(request)
        case_id = check_case_id(request.match_info["case_id"])
        record = await self.store.inquiry(case_id)
        if record is None:
            return page(request, "not_found.html", status=404, zone=zone, ask=self._ask(request))
        return page(
            request,
            "inquiry.html",
            zone=zone,
            record=record,
            answer=record.answer,
            progress=inquiry_status(record),
            met=deadline_met(record),
            ask=self._ask(request, record.about_case_id),
        )

    async def this_year(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"/reports/{self.clock().year}")

    async def report_of(self, request: web.Request, language: str = "en") -> Report:
        year = request.match_info["year"]
        period = parse_period(year, request.match_info.get("quarter"))
        return await self.store.report(period, language)

    async def report_page(self, request: web.Request) -> web.StreamResponse:
        zone = time_zone(request)
        report = await self.report_of(request, PAGES.page_language(request))
        return page(request, "report.html", zone=zone, report=report, ask=self._ask(request))

    async def report_file(self, request: web.Request) -> web.StreamResponse:
        report = await self.report_of(request)
        name = f"office-actions-{report.period.label}.csv"
        return web.Response(
            text=report_csv(report),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def feed(self, request: web.Request) -> web.StreamResponse:
        base = (self.settings.public_url or f"{request.scheme}://{request.host}").rstrip("/")
        entries = [
            e async for r in self.store.every(ACTIONS, ActionRecord) if (e := action_entry(r, base))
        ]
        entries += [
            e
            async for r in self.store.every(INQUIRIES, InquiryRecord)
            if (e := inquiry_entry(r, base))
        ]
        body = atom_feed(entries, base, "Office actions")
        return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")

"""The ops dashboard: a server-rendered page whose live part is re-rendered on the server
and pushed over server-sent events whenever the views change."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from casework.assertion_auth import ASSERTION
from services.monitor.adapters.texts import LANGUAGES, texts
from services.monitor.domain.redaction import redact
from services.monitor.domain.summary import summarise
from services.monitor.usecases import Tracker

HERE = Path(__file__).resolve().parent
KEEPALIVE_SECONDS = 15.0
MIN_INTERVAL_SECONDS = 0.2


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _when(iso: str | None) -> str:
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["duration"] = _duration
    env.filters["when"] = _when
    return env


class Dashboard:
    def __init__(
        self,
        tracker: Tracker,
        *,
        clock: Callable[[], datetime],
        at_risk_window: timedelta,
        case_url: Callable[[str], str],
        confidential_types: Collection[str] = (),
        may_see_confidential: Callable[[Iterable[str]], bool] = lambda roles: False,
    ) -> None:
        self._tracker = tracker
        self._confidential = frozenset(confidential_types)
        self._may_see = may_see_confidential
        self._clock = clock
        self._window = at_risk_window
        self._case_url = case_url
        self._env = environment()
        self._closing = False

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.page)
        app.router.add_get("/live", self.fragment)
        app.router.add_get("/events", self.events)
        app.router.add_get("/api/summary", self.summary_json)
        app.router.add_get("/api/cases/{case_id}", self.case_json)
        app.router.add_static("/static", HERE / "static")
        app.on_shutdown.append(self._close_streams)

    async def _close_streams(self, app: web.Application) -> None:
        """End the open event streams, or stopping would wait for them to time out."""
        self._closing = True
        self._tracker.changed()

    def summary(self, request: web.Request) -> dict[str, Any]:
        """What the caller may see: confidential cases' details only for the roles the
        policy names (an unauthenticated caller never gets this far)."""
        views = self._tracker.views
        whole = summarise(views, self._clock(), self._window, self._case_url)
        assertion = request.get(ASSERTION)
        if assertion is not None and self._may_see(assertion.roles):
            return whole
        return redact(whole, views, self._confidential)

    def _render(self, request: web.Request, template: str, lang: str) -> str:
        return self._env.get_template(template).render(
            s=self.summary(request), t=texts(lang)["dashboard"], lang=lang
        )

    async def page(self, request: web.Request) -> web.Response:
        html = self._render(request, "dashboard.html.j2", _language(request))
        return web.Response(text=html, content_type="text/html")

    async def fragment(self, request: web.Request) -> web.Response:
        return web.Response(
            text=self._render(request, "live.html.j2", _language(request)),
            content_type="text/html",
        )

    async def summary_json(self, request: web.Request) -> web.Response:
        return web.json_response(self.summary(request))

    async def case_json(self, request: web.Request) -> web.Response:
        case_id = request.match_info["case_id"]
        views = self._tracker.views
        case = views.cases.get(case_id)
        if case is None:
            raise web.HTTPNotFound(reason=f"case {case_id} is not known to the monitor")
        status = case.deadline_status(self._clock(), self._window)
        received = views.submissions.get(case.submission_id or "")
        return web.json_response(
            {
                "case_id": case.case_id,
                "state": str(case.state),
                "action_type": case.action_type,
                "submission_received_at": _iso(received),
                "deadline_at": _iso(case.deadline_at),
                "decided_at": _iso(case.decided_at),
                "enforced_at": _iso(case.enforced_at),
                "deadline_status": str(status) if status else None,
                "url": self._case_url(case.case_id),
            }
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        lang = _language(request)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        sent = None
        assertion = request.get(ASSERTION)
        # The stream ends with the caller's assertion: the page then signs in again.
        until = assertion.expires_at if assertion is not None else self._clock()
        while not self._closing and self._clock() < until:
            version = self._tracker.views.version
            if version != sent:
                html = self._render(request, "live.html.j2", lang)
                payload = json.dumps({"version": version, "html": html})
                await response.write(f"event: update\ndata: {payload}\n\n".encode())
                sent = version
                await asyncio.sleep(MIN_INTERVAL_SECONDS)  # throttle: a busy stream re-renders
            else:
                await response.write(b": keep-alive\n\n")
            left = (until - self._clock()).total_seconds()
            await self._tracker.wait_changed(max(0.0, min(KEEPALIVE_SECONDS, left)))
        return response


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _language(request: web.Request) -> str:
    asked = request.query.get("lang") or request.headers.get("Accept-Language", "en")[:2].lower()
    return asked if asked in LANGUAGES else "en"

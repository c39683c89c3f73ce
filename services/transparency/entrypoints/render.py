"""Rendering the portal's pages (templates and EN/RU messages in this folder): the page
language as casework.pages picks it, and the reader's time zone (``?tz=``, then a cookie,
then UTC) for every date, each in a ``<time datetime=…>`` element."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from markupsafe import Markup

from casework.pages import Pages
from services.transparency.domain.query import TIME_ZONES, parse_time_zone
from services.transparency.entrypoints.links import self_link

PAGES = Pages(Path(__file__).resolve().parent, cookie="portal_lang")
TZ_COOKIE = "portal_tz"


def time_zone(request: web.Request) -> str:
    """?tz= (checked: a bad one raises Rejected), then the cookie (ignored if stale), UTC."""
    chosen = parse_time_zone(request.query.get("tz"))
    if chosen is not None:
        return chosen
    kept = request.cookies.get(TZ_COOKIE)
    return kept if kept in TIME_ZONES else "UTC"


def when_in(zone: str) -> Callable[..., Markup]:
    """``when(moment, date_only=False)``: the moment in ``zone`` in a <time> element whose
    ``datetime`` is the UTC instant."""
    info = ZoneInfo(zone)

    def when(moment: datetime | None, date_only: bool = False) -> Markup:
        if moment is None:
            return Markup("–")
        local = moment.astimezone(info)
        shown = local.strftime("%Y-%m-%d") if date_only else local.strftime("%Y-%m-%d %H:%M")
        suffix = "" if date_only else f" {zone}"
        stamp = moment.astimezone(UTC).isoformat()
        return Markup('<time datetime="{}">{}{}</time>').format(stamp, shown, suffix)

    return when


def page(
    request: web.Request, template: str, *, status: int = 200, zone: str = "UTC", **context: Any
) -> web.Response:
    """A page in the reader's language and time zone; a chosen ?tz= is remembered."""
    query = dict(request.query)
    languages = {
        code: self_link(request.path, query, lang=code, tz=None) for code in PAGES.languages
    }
    response = PAGES.render(
        request,
        template,
        status=status,
        when=when_in(zone),
        zone=zone,
        zones=TIME_ZONES,
        language_links=languages,
        kept={k: v for k, v in query.items() if k in ("type", "wiki", "year", "language", "after")},
        this_year=datetime.now(UTC).year,
        **context,
    )
    if request.query.get("tz") == zone:
        response.set_cookie(TZ_COOKIE, zone, httponly=True, samesite="Lax")
    return response

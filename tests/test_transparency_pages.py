"""The portal's pages, CSV, feed and JSON API: its aiohttp app over HTTP, on a real SQLite
store filled through the same fold the consumer uses. English and Russian, the reader's
time zone, filters kept across paging and the language switch, 400s that name the field,
and no route that writes."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
import openapi_spec_validator
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from casework.http import make_app
from casework.store import open_store
from services.transparency.adapters.store import PortalStore
from services.transparency.entrypoints.openapi import openapi_document
from services.transparency.entrypoints.routes import Portal
from services.transparency.settings import TransparencySettings
from tests.test_transparency_domain import (
    CASE,
    REFUSED_LEGAL,
    REFUSED_WHERE,
    T0,
    appeal_decided,
    appeal_filed,
    history,
    inquiry_answer,
    inquiry_received,
    statement,
)

INTAKE = "http://intake.test:8081"
NOW = T0 + timedelta(days=40)
RU_CASE = "OA-BBBBBBBBBBBB"
ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass
class Site:
    url: str
    http: aiohttp.ClientSession

    async def get(self, path: str, **headers: str) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.get(self.url + path, headers=headers, allow_redirects=False) as reply:
            return reply.status, await reply.text(), reply

    async def json(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.url + path) as reply:
            return reply.status, await reply.json()


def events() -> list[Any]:
    more = [
        statement(
            f"OA-{letter * 12}",
            action_type="local-ban",
            wikis=["enwiki"],
            enforced_at=T0 - timedelta(days=30 * (i + 1)),  # Q4, Q3 x3, Q2
            expires_at=T0 + timedelta(days=1) if letter == "C" else None,
        )
        for i, letter in enumerate("CDEFG")
    ]
    old = statement("OA-HHHHHHHHHHHH", enforced_at=T0.replace(year=2025))
    return [
        *history(),
        *more,
        old,
        appeal_filed("AP-DDDDDDDDDDDD", about="OA-DDDDDDDDDDDD"),
        appeal_decided("AP-DDDDDDDDDDDD", "dismissed", about="OA-DDDDDDDDDDDD"),
        inquiry_received("IQ-CCCCCCCCCCCC", about="OA-CCCCCCCCCCCC"),
        inquiry_answer("IQ-CCCCCCCCCCCC", about="OA-CCCCCCCCCCCC", asker="Rita Named"),
    ]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    store = await open_store(f"sqlite:///{tmp_path / 'transparency.sqlite3'}")
    portal = PortalStore(store)
    await portal.prepare()
    for event in events():
        await portal.take(event)
    settings = TransparencySettings(data_dir=tmp_path, page_size=3, intake_public_url=INTAKE)
    app = make_app(registry=CollectorRegistry(), health_checks={})
    Portal(portal, settings, clock=lambda: NOW).register(app)
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            yield Site(str(server.make_url("")).rstrip("/"), http)
    finally:
        await server.close()
        await store.close()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def cases_on(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/actions/([A-Z]+-[A-Z2-7]+)">', html)


def link(html: str, rel_text: str) -> str:
    found = re.search(r'<a href="([^"]+)"[^>]*>' + re.escape(rel_text) + "</a>", html)
    assert found, f"no link {rel_text!r}"
    return found.group(1).replace("&amp;", "&")


async def test_the_list_pages_through_every_action_keeping_its_filters(site: Site) -> None:
    status, html, reply = await site.get("/?type=local-ban&wiki=enwiki")
    assert status == 200 and reply.headers["Content-Security-Policy"].startswith(
        "default-src 'none'"
    )
    assert "<script" not in html
    first = cases_on(html)
    assert first == ["OA-CCCCCCCCCCCC", "OA-DDDDDDDDDDDD", "OA-EEEEEEEEEEEE"]
    following = link(html, "Next page")
    assert "type=local-ban" in following and "wiki=enwiki" in following
    status, html, _ = await site.get(following)
    assert status == 200 and cases_on(html) == ["OA-FFFFFFFFFFFF", "OA-GGGGGGGGGGGG"]
    assert "Next page" not in html and link(html, "First page") == "/?type=local-ban&wiki=enwiki"
    # The language switch keeps the filters and the page.
    russian = link(html, "Русский")
    assert "type=local-ban" in russian and "after=" in russian and "lang=ru" in russian
    status, html, _ = await site.get(russian)
    assert '<html lang="ru">' in html and cases_on(html) == ["OA-FFFFFFFFFFFF", "OA-GGGGGGGGGGGG"]
    assert "Следующая страница" not in html and "Действует" in text_of(html)


async def test_filters_by_year_language_and_every_wiki(site: Site) -> None:
    _, html, _ = await site.get("/?year=2025")
    assert cases_on(html) == ["OA-HHHHHHHHHHHH"]
    _, html, _ = await site.get("/?language=ru")
    assert cases_on(html) == [RU_CASE]
    _, html, _ = await site.get("/?wiki=*&year=2026")
    assert cases_on(html) == [CASE]
    _, html, _ = await site.get("/?type=no-such-type")
    assert cases_on(html) == [] and "No action matches." in html


async def test_states_show_in_the_list(site: Site) -> None:
    _, html, _ = await site.get("/?year=2026")
    rows = re.findall(r'/actions/(OA-[A-Z]+)">.*?class="state state-([a-z-]+)"', html, re.S)
    assert rows[:3] == [(CASE, "reversed"), (RU_CASE, "in-force"), ("OA-CCCCCCCCCCCC", "expired")]


async def test_an_action_shows_its_answers_reversal_appeals_inquiries_and_records(
    site: Site,
) -> None:
    status, html, _ = await site.get(f"/actions/{CASE}")
    assert status == 200
    words = text_of(html)
    assert "Global ban" in words and "Reversed" in words
    assert words.count("Not disclosed.") == 2 and REFUSED_WHERE in words and REFUSED_LEGAL in words
    assert "Terms of Use §4: harassment." in words
    assert "The appeal showed the evidence was misread." in words and "appeal upheld" in words
    assert "AP-AAAAAAAAAAAA" in words and "upheld (the action was reversed)" in words
    assert (
        'href="/inquiries/IQ-AAAAAAAAAAAA"' in html and 'href="/inquiries/IQ-BBBBBBBBBBBB"' in html
    )
    assert 'href="http://wiki.test/4711"' in html and "oldid 4711" in words
    assert 'href="https://transparency.dsa.ec.europa.eu/statement/dsa-2"' in html
    ask = link(html, "How to ask about this action")
    assert ask == f"{INTAKE}/submit/inquiry?refers_to={CASE}&lang=en"


async def test_a_russian_case_reads_in_russian(site: Site) -> None:
    status, html, _ = await site.get(f"/actions/{RU_CASE}?lang=ru")
    assert status == 200 and '<html lang="ru">' in html
    words = text_of(html)
    assert "Глобальная блокировка" in words and "Систематические преследования." in words
    assert "Назвать места — значит назвать жертву." in words and "Не раскрывается." in words
    assert "Global ban" not in words and "Not disclosed" not in words
    assert f"refers_to={RU_CASE}&amp;lang=ru" in html
    # In English the same case reads in English.
    _, html, _ = await site.get(f"/actions/{RU_CASE}?lang=en")
    assert "Global ban" in text_of(html) and REFUSED_WHERE in text_of(html)


async def test_dates_show_in_the_chosen_time_zone_and_it_is_remembered(site: Site) -> None:
    stamp = f'<time datetime="{T0.isoformat()}">'
    _, html, _ = await site.get(f"/actions/{CASE}")
    assert f"{stamp}2026-11-17 09:15 UTC</time>" in html
    status, html, reply = await site.get(f"/actions/{CASE}?tz=Europe/Moscow")
    assert status == 200 and f"{stamp}2026-11-17 12:15 Europe/Moscow</time>" in html
    assert reply.cookies["portal_tz"].value == "Europe/Moscow"
    _, html, _ = await site.get(f"/actions/{CASE}")  # the session sends the cookie back
    assert "12:15 Europe/Moscow" in html
    assert '<option value="Europe/Moscow" selected>' in html


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/?type=Bad%20Type", "type"),
        ("/?year=1999", "year"),
        ("/?after=garbage", "after"),
        ("/?tz=Mars/Olympus", "tz"),
        ("/inquiries?after=%25%25", "after"),
        ("/reports/1999", "year"),
        ("/reports/2026/5", "quarter"),
        ("/actions/not-a-case", "case_id"),
    ],
)
async def test_a_bad_parameter_is_a_400_page_naming_the_field(
    site: Site, path: str, field: str
) -> None:
    status, html, reply = await site.get(path)
    assert status == 400 and reply.content_type == "text/html"
    assert f"<strong>{field}</strong>" in html
    assert "portal_tz" not in reply.cookies


async def test_an_unknown_case_is_404(site: Site) -> None:
    status, html, _ = await site.get("/actions/OA-ZZZZZZZZZZZZ")
    assert status == 404 and "Not found" in html
    status, _, _ = await site.get("/inquiries/IQ-ZZZZZZZZZZZZ")
    assert status == 404


async def test_inquiries_show_answers_refusals_held_back_grounds_and_the_named_asker(
    site: Site,
) -> None:
    _, html, _ = await site.get("/inquiries")
    assert re.findall(r'<th scope="row"><a href="/inquiries/(IQ-[A-Z]+)">', html)
    _, html, _ = await site.get("/inquiries/IQ-AAAAAAAAAAAA")
    words = text_of(html)
    assert "Who decided?" in words and "Two staff members." in words
    assert f"Refused. Grounds: {REFUSED_WHERE}" in words
    assert "Deadline met yes" in words and "not named" in words
    _, html, _ = await site.get("/inquiries/IQ-BBBBBBBBBBBB")
    words = text_of(html)
    assert "Received on 2026-11-18 ; the answer is not public because: It names the person" in words
    assert "Who decided?" not in words
    _, html, _ = await site.get("/inquiries/IQ-CCCCCCCCCCCC?lang=ru")
    assert "Rita Named" in text_of(html) and "Вопрос 1" in text_of(html)


async def test_the_report_page_and_csv_show_the_quarters_numbers(site: Site) -> None:
    status, html, _ = await site.get("/reports/2026/4")
    assert status == 200
    words = text_of(html)
    assert "Report 2026-Q4" in words and "Actions taken: 3" in words
    assert "Appeals filed 2" in words and "Appeals upheld 1" in words and "Reversals 1" in words
    assert "Inquiries received 3" in words and "Answers held back 1" in words
    _, html, _ = await site.get("/reports/2026/4?lang=ru")
    assert "Назвать места — значит назвать жертву.: 1" in text_of(html)
    _, html, _ = await site.get("/reports/2026?lang=en")
    assert "Actions taken: 7" in text_of(html) and "Appeals dismissed 1" in text_of(html)
    status, body, reply = await site.get("/reports/2026/4.csv")
    assert status == 200 and reply.content_type == "text/csv"
    assert 'filename="office-actions-2026-Q4.csv"' in reply.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body)))
    totals = {(r["section"], r["metric"], r["dimension"]): r["value"] for r in rows}
    assert totals[("own_initiative_moderation", "measures_taken", "total")] == "3"
    status, body, _ = await site.get("/reports/2026.csv")
    assert status == 200 and "2026,own_initiative_moderation,measures_taken,total,7,yes" in body


async def test_reports_without_a_year_go_to_this_years(site: Site) -> None:
    status, _, reply = await site.get("/reports")
    assert status == 302 and reply.headers["Location"] == f"/reports/{NOW.year}"


async def test_the_atom_feed_parses_and_lists_actions_and_answers(site: Site) -> None:
    status, body, reply = await site.get("/feed.atom")
    assert status == 200 and reply.content_type == "application/atom+xml"
    feed = ET.fromstring(body.encode())
    ids = [e.findtext(f"{ATOM}id") for e in feed.findall(f"{ATOM}entry")]
    assert f"urn:officeactions:action:{CASE}:r2" in ids
    assert "urn:officeactions:inquiry:IQ-AAAAAAAAAAAA" in ids and len(ids) == 11
    links = [e.find(f"{ATOM}link").get("href") for e in feed.findall(f"{ATOM}entry")]  # type: ignore[union-attr]
    assert all(h is not None and h.startswith(site.url + "/") for h in links)


async def test_the_json_api_pages_and_reports(site: Site) -> None:
    status, body = await site.json("/api/v1/actions?type=local-ban")
    assert status == 200 and [a["case_id"] for a in body["items"]][:2] == [
        RU_CASE,
        "OA-CCCCCCCCCCCC",
    ]
    assert body["items"][1]["state"] == "expired" and body["next"]
    status, rest = await site.json(f"/api/v1/actions?type=local-ban&after={body['next']}")
    assert [a["case_id"] for a in rest["items"]] == [f"OA-{x * 12}" for x in "EFG"]
    assert rest["next"] is None
    status, one = await site.json(f"/api/v1/actions/{CASE}")
    assert (
        one["reversal"]["grounds"] == "appeal-upheld" and one["dsa_statement"]["dsa_id"] == "dsa-2"
    )
    assert len(one["inquiries"]) == 2 and one["appeals"][0]["outcome"] == "upheld"
    status, ru = await site.json(f"/api/v1/actions/{RU_CASE}?lang=ru")
    assert ru["action_title"] == "Глобальная блокировка"
    status, inquiries = await site.json("/api/v1/inquiries")
    assert status == 200 and len(inquiries["items"]) == 3 and inquiries["next"] is None
    status, report = await site.json("/api/v1/reports/2026?quarter=4")
    assert status == 200 and report["actions"] == 3 and report["appeals_upheld"] == 1
    assert report["statement_questions"]["where"]["refused"] == 3
    _, russian = await site.json("/api/v1/reports/2026?quarter=4&lang=ru")
    grounds = russian["statement_questions"]["where"]["grounds"]
    assert grounds == {REFUSED_WHERE: 2, "Назвать места — значит назвать жертву.": 1}
    status, q3 = await site.json("/api/v1/reports/2026?quarter=3")
    assert q3["actions"] == 3 and q3["by_type"] == {"local-ban": 3} and q3["appeals_filed"] == 0


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/actions?year=3000", "year"),
        ("/api/v1/actions?after=xyz", "after"),
        ("/api/v1/reports/20x6", "year"),
        ("/api/v1/reports/2026?quarter=0", "quarter"),
        ("/api/v1/inquiries/iq-lower", "case_id"),
    ],
)
async def test_a_bad_api_parameter_is_a_400_naming_the_field(
    site: Site, path: str, field: str
) -> None:
    status, body = await site.json(path)
    assert status == 400 and body["error"] == "invalid_query"
    assert [e["field"] for e in body["errors"]] == [field]


async def test_nothing_accepts_a_write(site: Site) -> None:
    for path in ("/", f"/actions/{CASE}", "/api/v1/actions", "/api/v1/reports/2026", "/feed.atom"):
        for method in ("POST", "PUT", "DELETE"):
            async with site.http.request(method, site.url + path) as reply:
                assert reply.status == 405, (method, path)


async def test_the_openapi_document_is_served_and_valid(site: Site) -> None:
    status, body = await site.json("/api/v1/openapi.json")
    assert status == 200 and body == openapi_document()
    assert set(body["paths"]) == {
        "/api/v1/actions",
        "/api/v1/actions/{case_id}",
        "/api/v1/inquiries",
        "/api/v1/inquiries/{case_id}",
        "/api/v1/reports/{year}",
    }
    openapi_spec_validator.validate(body)


async def test_the_style_sheet_is_served(site: Site) -> None:
    status, css, _ = await site.get("/static/transparency/portal.css")
    assert status == 200 and "font" in css


async def test_the_feed_links_to_the_configured_public_url(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'feed.sqlite3'}")
    portal = PortalStore(store)
    await portal.prepare()
    await portal.take(statement())
    settings = TransparencySettings(data_dir=tmp_path, public_url="https://portal.example/")
    app = make_app(registry=CollectorRegistry(), health_checks={})
    Portal(portal, settings, clock=lambda: NOW).register(app)
    server = TestServer(app)
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(server.make_url("/feed.atom")) as reply,
        ):
            feed = ET.fromstring(await reply.read())
    finally:
        await server.close()
        await store.close()
    [entry] = feed.findall(f"{ATOM}entry")
    assert entry.find(f"{ATOM}link").get("href") == f"https://portal.example/actions/{CASE}"  # type: ignore[union-attr]

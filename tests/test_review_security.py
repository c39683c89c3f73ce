"""Issue 14 items 11 and 14 against review over real HTTP and SQLite (built by its own
`wire`, tests/test_review_auth_support.py): hostile JSON bodies and cursors answer 4xx
naming the field and change nothing; every response says `nosniff`; free text refuses
control characters; booleans are strict; the session cookie is `Secure` over https."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
from pydantic import BaseModel, ValidationError

from casework.http import MAX_JSON_DEPTH
from casework.text import SafeLine, SafeText
from services.review.entrypoints.console.auth_routes import secure_cookies
from tests.review_support import fresh_review_with_a_case  # noqa: F401 (the review fixture)
from tests.test_review_auth_support import (
    Review,
    stored_staff,
)

CASE = "OA-ABCDEFGH2345"
ALICE = {"Authorization": "Bearer demo-alice-token"}
ADAM = {"Authorization": "Bearer demo-adam-token"}


async def send(
    review: Review, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, Any, dict[str, str]]:
    sent = {**headers, "Content-Type": "application/json"} if body is not None else headers
    async with aiohttp.ClientSession() as http:
        async with http.request(method, review.url + path, data=body, headers=sent) as reply:
            payload = await reply.json() if reply.content_type == "application/json" else None
            return reply.status, payload, dict(reply.headers)


def rules(body: Any) -> list[tuple[str, str]]:
    return [(e["field"], e["rule"]) for e in body["errors"]]


async def case_version(review: Review) -> int:
    doc = await review.store.get("cases", CASE)
    assert doc is not None
    return int(doc["_version"])


async def test_hostile_json_bodies_answer_400_naming_the_body(review: Review) -> None:
    before = await case_version(review)
    notes = f"/api/v1/cases/{CASE}/notes"
    hostile = {
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "deep object": b'{"text":' * 5_000 + b'"x"' + b"}" * 5_000,
        "just too deep": b'{"text": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}",
        "lone surrogate": b'{"text": "note \\ud800"}',
        "NaN": b'{"text": NaN}',
    }
    expected = {
        "deep": "max_depth",
        "deep object": "max_depth",
        "just too deep": "max_depth",
        "lone surrogate": "unicode",
        "NaN": "json",
    }
    for name, body in hostile.items():
        status, answer, _ = await send(review, "POST", notes, body, ALICE)
        assert status == 400, (name, answer)
        assert answer["error"] == "invalid_json" and rules(answer) == [("body", expected[name])]
    # Nesting up to the bound is read as usual (and refused here by the model, not the reader).
    ok_depth = b'{"text": ' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}"
    status, answer, _ = await send(review, "POST", notes, ok_depth, ALICE)
    assert status == 422 and rules(answer)[0][0] == "text"
    assert await case_version(review) == before


async def test_hostile_cursors_answer_422_naming_the_cursor(review: Review) -> None:
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode()

    hostile = [
        b64(b"[" * 3000),  # under the URL length limit aiohttp itself keeps
        b64(b'{"a": "b", "c": "d"}'),  # unpacks into two strings: not a cursor either
        b64(b'["due:~", "OA-1", "extra"]'),
        b64(b'[1, "OA-1"]'),
        b64(b'["due:\\u0000", "OA-1"]'),
        b64(b'["due:~", "' + b"x" * 500 + b'"]'),
        b64(b"\xff\xfe\xfd"),
        "not base64 at all!",
        "%00",
        "A" * 5000,
        "",
    ]
    for cursor in hostile:
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{review.url}/api/v1/cases", params={"cursor": cursor}, headers=ALICE
            ) as reply:
                answer = await reply.json()
                assert reply.status == 422, (cursor[:40], answer)
                assert rules(answer) == [("cursor", "valid_cursor")], cursor[:40]
    # A real cursor still pages.
    status, page, _ = await send(review, "GET", "/api/v1/cases?limit=1", None, ALICE)
    assert status == 200 and len(page["cases"]) == 1


async def test_every_response_says_nosniff(review: Review) -> None:
    responses = [
        ("GET", "/console/login", None, {}),  # a page
        ("GET", "/api/v1/cases", None, ALICE),  # JSON
        ("GET", "/api/v1/cases", None, {}),  # 401
        ("GET", "/no/such/path", None, {}),  # 404 from the router
        ("POST", f"/api/v1/cases/{CASE}/notes", b"{", ALICE),  # 400
        ("GET", "/healthz", None, {}),
        ("GET", "/metrics", None, {}),
    ]
    for method, path, body, headers in responses:
        status, _, sent = await send(review, method, path, body, headers)
        assert sent.get("X-Content-Type-Options") == "nosniff", (method, path, status)
        if sent.get("Content-Type", "").startswith("application/json"):
            assert sent["Cache-Control"] == "no-store", path
            assert "frame-ancestors 'none'" in sent["Content-Security-Policy"], path
    _, _, page = await send(review, "GET", "/console/login", None, {})
    assert page["Referrer-Policy"] == "no-referrer" and page["X-Frame-Options"] == "DENY"


async def test_control_characters_and_loose_booleans_are_refused(review: Review) -> None:
    before = await stored_staff(review)
    erin = {
        "id": "erin",
        "name": "Erin\x00Handler",
        "email": "erin@officeactions.test",
        "languages": ["en"],
        "wiki_accounts": ["Erin\x1b[31m"],
    }
    status, answer, _ = await send(review, "POST", "/api/v1/staff", _json(erin), ADAM)
    assert status == 422
    assert rules(answer) == [
        ("name", "control_characters"),
        ("wiki_accounts.0", "control_characters"),
    ]
    for loose in (1, 0, "true", "yes", None):
        body = _json({"disabled": loose})
        status, answer, _ = await send(review, "PUT", "/api/v1/staff/alice/disabled", body, ADAM)
        assert status == 422 and rules(answer)[0][0] == "disabled", loose
    # Every review API body is read strictly: a number is not a boolean there either.
    version = await case_version(review)
    body = _json({"waiting": 1, "reason": "asked for the diffs"})
    status, answer, _ = await send(review, "PUT", f"/api/v1/cases/{CASE}/waiting", body, ALICE)
    assert status == 422 and rules(answer)[0] == ("waiting", "bool_type")
    assert await case_version(review) == version
    assert await stored_staff(review) == before


async def test_case_notes_comments_and_rationales_refuse_nul(review: Review) -> None:
    """Item 14: a note with NUL was stored. Every free-text field of the case forms now
    refuses control characters (tabs and line breaks stay allowed) and stores nothing."""
    version = await case_version(review)
    for path, body, field in (
        (f"/api/v1/cases/{CASE}/notes", {"text": "seen\x00hidden"}, "text"),
        (
            f"/api/v1/cases/{CASE}/evidence",
            {"url": "https://example.org/x", "description": "a\x00b", "where": "off-wiki-public"},
            "description",
        ),
        (
            f"/api/v1/cases/{CASE}/waiting",
            {"waiting": True, "reason": "diffs\x1b[2J"},
            "reason",
        ),
    ):
        status, answer, _ = await send(
            review, "POST" if "waiting" not in path else "PUT", path, _json(body), ALICE
        )
        assert status == 422, (path, answer)
        assert (field, "control_characters") in rules(answer), (path, answer)
    assert await case_version(review) == version
    status, _, _ = await send(
        review,
        "POST",
        f"/api/v1/cases/{CASE}/notes",
        _json({"text": "line one\n\tline two"}),
        ALICE,
    )
    assert status in (200, 201)


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def test_safe_text_admits_line_breaks_and_refuses_other_controls() -> None:
    class Note(BaseModel):
        text: SafeText
        title: SafeLine = ""

    assert Note(text="line one\r\nline two\ttabbed, ünïcödé, עברית").text
    for bad in ("\x00", "a\x07b", "\x1b[2J", "\x7f", "\x85", "\x9b"):
        with pytest.raises(ValidationError) as caught:
            Note(text=f"before{bad}after")
        assert caught.value.errors()[0]["type"] == "control_characters"
    with pytest.raises(ValidationError):
        Note(text="ok", title="two\nlines")
    schema = Note.model_json_schema()["properties"]
    assert "pattern" in schema["text"] and "pattern" in schema["title"]


def test_the_session_cookie_is_secure_over_https_unless_overridden() -> None:
    assert secure_cookies(None, "https://review.example.org", "http") is True
    assert secure_cookies(None, "http://127.0.0.1:8082", "https") is False
    assert secure_cookies(None, None, "https") is True
    assert secure_cookies(None, None, "http") is False
    assert secure_cookies(False, "https://review.example.org", "https") is False
    assert secure_cookies(True, None, "http") is True

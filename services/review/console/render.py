"""Rendering console pages: one jinja2 environment, the page language, and its messages."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).resolve().parent
LANGUAGES = ("en", "ru")
LANG_COOKIE = "console_lang"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


@cache
def messages(language: str) -> dict[str, str]:
    raw = yaml.safe_load((HERE / "messages" / f"{language}.yaml").read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return {str(k): str(v) for k, v in raw.items()}


def page_language(request: web.Request) -> str:
    """?lang= wins, then the language cookie, then the browser's Accept-Language."""
    for choice in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if choice in LANGUAGES:
            return choice
    for part in request.headers.get("Accept-Language", "").split(","):
        primary = part.split(";")[0].strip().split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return LANGUAGES[0]


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    language = page_language(request)
    table = messages(language)
    fallback = messages(LANGUAGES[0])

    def t(key: str, **values: Any) -> str:
        text = table.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    body = (
        environment()
        .get_template(template)
        .render(t=t, lang=language, languages=LANGUAGES, path=request.path, **context)
    )
    response = web.Response(text=body, status=status, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    if request.query.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, httponly=True, samesite="Lax")
    return response


def _when(value: Any) -> str:
    if value is None:
        return "—"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("T", " ")[:16] + " UTC"

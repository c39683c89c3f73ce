"""Rendering the web form's pages: one jinja2 environment, the page language, its messages."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).resolve().parent
LANGUAGES = ("en", "ru")
LANG_COOKIE = "intake_lang"


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


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


def translator(language: str) -> Any:
    table = messages(language)
    fallback = messages(LANGUAGES[0])

    def t(key: str, default: str | None = None, **values: Any) -> str:
        text = table.get(key) or fallback.get(key)
        if text is None:
            text = default if default is not None else key
        return text.format(**values) if values else text

    return t


def render(
    request: web.Request,
    template: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> web.Response:
    language = page_language(request)
    body = (
        environment()
        .get_template(template)
        .render(
            t=translator(language), lang=language, languages=LANGUAGES, path=request.path, **context
        )
    )
    response = web.Response(text=body, status=status, content_type="text/html", headers=headers)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    if request.query.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, httponly=True, samesite="Lax")
    return response

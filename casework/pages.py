"""Server-rendered pages shared by the services that serve people (intake's form, review's
console): one jinja2 environment per template folder, the page language (?lang=, then a
cookie, then Accept-Language), messages from YAML files per language, and the same
security headers on every page."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

LANGUAGES = ("en", "ru")
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Page addresses can hold secrets (a one-time password link): never sent onwards.
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
}

Translate = Callable[..., str]


class Pages:
    """Pages from ``root/templates`` with messages from ``root/messages/<language>.yaml``."""

    def __init__(
        self,
        root: Path,
        *,
        cookie: str,
        filters: dict[str, Callable[..., Any]] | None = None,
        languages: tuple[str, ...] = LANGUAGES,
    ) -> None:
        self.root = root
        self.cookie = cookie
        self.filters = filters or {}
        self.languages = languages
        self.messages = cache(self._messages)
        self._environment: Environment | None = None

    @property
    def environment(self) -> Environment:
        if self._environment is None:
            env = Environment(
                loader=FileSystemLoader(self.root / "templates"),
                auto_reload=False,  # templates ship with the code: no stat of the file per render
                autoescape=select_autoescape(["html"]),
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.filters.update(self.filters)
            self._environment = env
        return self._environment

    def _messages(self, language: str) -> dict[str, str]:
        path = self.root / "messages" / f"{language}.yaml"
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(raw, dict)
        return {str(k): str(v) for k, v in raw.items()}

    def page_language(self, request: web.Request) -> str:
        """?lang= wins, then the language cookie, then the browser's Accept-Language."""
        for choice in (request.query.get("lang"), request.cookies.get(self.cookie)):
            if choice in self.languages:
                return choice
        for part in request.headers.get("Accept-Language", "").split(","):
            primary = part.split(";")[0].strip().split("-")[0].lower()
            if primary in self.languages:
                return primary
        return self.languages[0]

    def translator(self, language: str) -> Translate:
        """``t(key, default=None, **values)``: the language's text, else English, else the
        default, else the key; formatted with ``values``."""
        table = self.messages(language)
        fallback = self.messages(self.languages[0])

        def t(key: str, default: str | None = None, **values: Any) -> str:
            text = table.get(key) or fallback.get(key)
            if text is None:
                text = default if default is not None else key
            return text.format(**values) if values else text

        return t

    def render(
        self,
        request: web.Request,
        template: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> web.Response:
        language = self.page_language(request)
        body = self.environment.get_template(template).render(
            t=self.translator(language),
            lang=language,
            languages=self.languages,
            path=request.path,
            **context,
        )
        response = web.Response(text=body, status=status, content_type="text/html", headers=headers)
        response.headers.update(SECURITY_HEADERS)
        if request.query.get("lang") in self.languages:
            response.set_cookie(self.cookie, language, httponly=True, samesite="Lax")
        return response

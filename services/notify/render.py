"""Render messages from audience views with the template files. No I/O beyond reading templates."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from services.notify.views import AffectedUserView, PublicView

TEMPLATES = Path(__file__).resolve().parent / "templates"
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str
    language: str


def _date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _nowiki(value: str) -> str:
    """Wikitext-inert text: entities cannot open tags, links or templates."""
    return "<nowiki>" + html.escape(value, quote=False) + "</nowiki>"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=False,  # plain text and wikitext; wikitext escapes through |nowiki
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date"] = _date
    env.filters["nowiki"] = _nowiki
    return env


def affected_user_email(env: Environment, view: AffectedUserView) -> RenderedEmail:
    language = view.language.split("-")[0]
    try:
        subject = env.get_template(f"affected_user.{language}.subject.j2")
        body = env.get_template(f"affected_user.{language}.body.j2")
    except TemplateNotFound:
        language = FALLBACK_LANGUAGE
        subject = env.get_template(f"affected_user.{language}.subject.j2")
        body = env.get_template(f"affected_user.{language}.body.j2")
    return RenderedEmail(
        subject=subject.render(v=view).strip(), body=body.render(v=view), language=language
    )


def public_statement(env: Environment, view: PublicView) -> str:
    return env.get_template("public_statement.wiki.j2").render(v=view)


def statement_marker(case_id: str) -> str:
    """Present in the log page once the case's statement is there: the edit's idempotency key."""
    return f"<!-- casework:{case_id} -->"

"""Render messages from audience views with the template files. No I/O beyond reading templates.

An email template `KIND.LANG.txt.j2` has two blocks, `subject` and `body`; its
HTML part is `KIND.LANG.html.j2` where one exists, else the text laid out by
`_layout.html.j2` (HTML-escaped). A language without templates falls back to
English.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel

from casework import wikitext
from services.notify.domain.views import AffectedUserView, Answer, PublicView, ReversalView

TEMPLATES = Path(__file__).resolve().parent / "templates"
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str
    html: str
    language: str


def _date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _label(key: str, table: Mapping[str, str]) -> str:
    return table.get(key, key)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        auto_reload=False,  # templates ship with the code: no stat of the file per render
        undefined=StrictUndefined,
        # Plain text and wikitext are not escaped (wikitext escapes through |nowiki);
        # HTML templates are.
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date"] = _date
    # Wikitext: every value through one of these (casework.wikitext), never raw.
    env.filters["nowiki"] = wikitext.nowiki
    env.filters["w"] = wikitext.escape
    env.filters["user_link"] = wikitext.link_to_user
    env.filters["label"] = _label
    return env


@lru_cache(maxsize=8)
def _template_names(env: Environment) -> frozenset[str]:
    """The template files, read once per environment (listing them walks the directory)."""
    return frozenset(env.list_templates())


def template_language(env: Environment, kind: str, language: str) -> str:
    short = language.split("-")[0]
    names = _template_names(env)
    return short if f"{kind}.{short}.txt.j2" in names else FALLBACK_LANGUAGE


def email(env: Environment, kind: str, view: BaseModel, language: str) -> RenderedEmail:
    lang = template_language(env, kind, language)
    template = env.get_template(f"{kind}.{lang}.txt.j2")
    context = template.new_context({"v": view})
    subject = "".join(template.blocks["subject"](context)).strip()
    body = "".join(template.blocks["body"](context)).lstrip("\n")
    html_name = f"{kind}.{lang}.html.j2"
    values: dict[str, Any] = {"v": view, "subject": subject, "language": lang, "text": body}
    if html_name in _template_names(env):
        html_part = env.get_template(html_name).render(values)
    else:
        html_part = env.get_template("_layout.html.j2").render(values)
    return RenderedEmail(subject=subject, body=body, html=html_part, language=lang)


def affected_user_email(env: Environment, view: AffectedUserView) -> RenderedEmail:
    return email(env, "affected_user", view, view.language)


def statement_language(env: Environment, language: str) -> str | None:
    """The language a statement carries besides English: the decision's, when there is a
    statement template for it."""
    short = language.split("-")[0]
    if short == FALLBACK_LANGUAGE or f"public_statement.{short}.wiki.j2" not in _template_names(
        env
    ):
        return None
    return short


def public_statement(
    env: Environment, view: PublicView, translated: tuple[str, PublicView] | None = None
) -> str:
    """English, then (``translated``: a language of ``statement_language`` and the view
    built for it) the same in that language below, each under its own heading."""
    english = env.get_template("public_statement.wiki.j2").render(
        v=view, translated=translated is not None
    )
    if translated is None:
        return english
    language, other = translated
    second = env.get_template(f"public_statement.{language}.wiki.j2").render(v=other)
    return english.rstrip("\n") + "\n" + second


def public_reversal(env: Environment, view: ReversalView) -> str:
    """Appended to the log page; public-level fields only (the reversal reason is public)."""
    return env.get_template("public_reversal.wiki.j2").render(v=view)


def statement_marker(case_id: str) -> str:
    """Present in the log page once the case's statement is there: the edit's idempotency key."""
    return f"<!-- casework:{case_id} -->"


def answer_lines(env: Environment, answer: Answer, language: str) -> tuple[str, list[str]]:
    """One of the five answers as plain text (the portal's): its heading in ``language``
    and one line per item, in the words of the email's answers; no lines when withheld
    (the grounds say why). A language without the template falls back to English."""
    short = language.split("-")[0]
    if f"_public_answers.{short}.txt.j2" not in _template_names(env):
        short = FALLBACK_LANGUAGE
    text = env.get_template(f"_public_answers.{short}.txt.j2").render(a=answer)
    heading, *lines = [line.strip() for line in text.splitlines() if line.strip()]
    return heading, lines

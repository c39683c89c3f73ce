"""Notices enforcement edits onto a user's page or a page concerned, from template files.

A notice is public: it is rendered only from public fields (the action's title, the case
reference, the end date, the public log page), never from grounds, evidence or addresses.
Each language has its notice (notice.<language>.wiki.j2) and the line a reversal appends
under it (reversed.<language>.wiki.j2); the notice records its language (its table's lang
attribute), so the line is written in the notice's language. Adding a language is adding
both files; one without the other stops enforcement at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from casework import wikitext
from casework.contract import Decision

TEMPLATES = Path(__file__).resolve().parent / "templates"
FALLBACK_LANGUAGE = "en"
_NOTICE_LANGUAGE = re.compile(r'class="office-action-notice" lang="([a-z]{2,3})"')


def notice_marker(case_id: str) -> str:
    """Put in every notice: finding it on the page means the notice is already there."""
    return f"<!-- casework-notice:{case_id} -->"


def _date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@cache
def languages() -> frozenset[str]:
    """The languages a notice can be written in; each must have its reversal line too."""
    notices = frozenset(p.name.split(".")[1] for p in TEMPLATES.glob("notice.*.wiki.j2"))
    missing = sorted(x for x in notices if not (TEMPLATES / f"reversed.{x}.wiki.j2").is_file())
    if missing:
        raise ValueError(
            f"{TEMPLATES}: reversed.{missing[0]}.wiki.j2 missing (a notice language needs the"
            " line a reversal appends in that language)"
        )
    return notices


def notice_language(notice: str) -> str:
    """The language ``notice`` was written in; English for one placed before notices
    recorded it (they were all English then, unless in a language since removed)."""
    found = _NOTICE_LANGUAGE.search(notice)
    if found is None or found.group(1) not in languages():
        return FALLBACK_LANGUAGE
    return found.group(1)


def reversal_line(notice: str, case_id: str, reversed_on: date) -> str:
    """What a reversal appends under ``notice``, in its language, with the case reference."""
    template = _templates().get_template(f"reversed.{notice_language(notice)}.wiki.j2")
    line = template.render(case_id=case_id, reversed_on=f"{reversed_on:%Y-%m-%d}").strip()
    return f"\n\n{line}"


@cache
def _templates() -> Environment:
    return _environment()


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=False,  # wikitext: values are escaped with |nowiki, |w, |page_link
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["nowiki"] = wikitext.nowiki
    env.filters["w"] = wikitext.escape
    env.filters["page_link"] = wikitext.link_to_page
    env.filters["date"] = _date
    return env


class NoticeRenderer:
    def __init__(self, public_log_page: str) -> None:
        languages()  # every notice language can be marked reversed, or enforcement stops
        self._env = _environment()
        self._public_log_page = public_log_page

    def render(
        self,
        decision: Decision,
        action_title: str | Callable[[str], str],
        case_id: str,
        page: str,
    ) -> str:
        """``action_title``: the title, or the title in a given language (the notice's:
        the decision's language where a template exists, else English)."""
        language = decision.language.split("-")[0]
        if not (TEMPLATES / f"notice.{language}.wiki.j2").is_file():
            language = FALLBACK_LANGUAGE
        template = self._env.get_template(f"notice.{language}.wiki.j2")
        return template.render(
            language=language,
            marker=notice_marker(case_id),
            case_id=case_id,
            action_title=action_title(language) if callable(action_title) else action_title,
            account=decision.subject.account,
            on_user_page=page == f"User:{decision.subject.account}",
            expires_at=decision.expires_at,
            public_log_page=self._public_log_page,
        )

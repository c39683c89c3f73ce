"""Notices enforcement edits onto a user's page or a page concerned, from template files.

A notice is public: it is rendered only from public fields (the action's title, the case
reference, the end date, the public log page), never from grounds, evidence or addresses.
Each language has its notice (notice.<language>.wiki.j2), the line a reversal appends
under it (reversed.<language>.wiki.j2) and, but for English, the wording of the reasons
enforcement gives in the wiki's logs (log.<language>.yaml, see domain/log_reasons.py); the
notice records its language (its table's lang attribute), so the line is written in the
notice's language. Adding a language is adding the files; a notice language without the
others stops enforcement at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from casework import wikitext
from casework.contract import Decision
from services.enforcement.domain.log_reasons import (
    ENGLISH,
    LogWording,
    action_reason,
    restoration_reason,
    undo_reason,
)
from services.enforcement.domain.log_reasons import FIELDS as LOG_FIELDS
from services.enforcement.domain.operations import Ending

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
    """The languages a notice can be written in; each must have its reversal line and (but
    for English) its log wording too, complete."""
    notices = frozenset(p.name.split(".")[1] for p in TEMPLATES.glob("notice.*.wiki.j2"))
    missing = sorted(x for x in notices if not (TEMPLATES / f"reversed.{x}.wiki.j2").is_file())
    if missing:
        raise ValueError(
            f"{TEMPLATES}: reversed.{missing[0]}.wiki.j2 missing (a notice language needs the"
            " line a reversal appends in that language)"
        )
    for language in sorted(notices - {FALLBACK_LANGUAGE}):
        _log_wording(language)
    return notices


@cache
def _log_wording(language: str) -> LogWording:
    path = TEMPLATES / f"log.{language}.yaml"
    if not path.is_file():
        raise ValueError(f"{path} missing (a notice language needs its log reasons)")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for field in LOG_FIELDS:
        if not isinstance(data.get(field), str) or not data[field].strip():
            raise ValueError(f"{path}: {field}: missing (every field needs a translation)")
    unknown = sorted(set(data) - set(LOG_FIELDS))
    if unknown:
        raise ValueError(f"{path}: {unknown[0]}: unknown field")
    wording = LogWording(language=language, **{f: data[f] for f in LOG_FIELDS})
    if "#{block_id} " not in wording.restoring:
        raise ValueError(f"{path}: restoring: must keep '#{{block_id}} ' (how a block is found)")
    try:  # every field it uses is one the English may use
        action_reason("OA-X", "t", "p", wording, "t")
        for ending in Ending:
            undo_reason("OA-X", ending, wording)
            restoration_reason(1, "a", "r", "OA-X", ending, wording)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{path}: a field uses an unknown or broken placeholder: {exc}") from None
    return wording


def log_wording(decision: Decision) -> LogWording:
    """The wording of the wiki's log reasons for ``decision``: its notice language's."""
    language = notice_language_for(decision)
    return ENGLISH if language == FALLBACK_LANGUAGE else _log_wording(language)


def notice_language_for(decision: Decision) -> str:
    """The decision's language where a notice template exists, else English."""
    language = decision.language.split("-")[0]
    if not (TEMPLATES / f"notice.{language}.wiki.j2").is_file():
        return FALLBACK_LANGUAGE
    return language


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
        auto_reload=False,  # templates ship with the code: no stat of the file per render
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

    def log_wording(self, decision: Decision) -> LogWording:
        return log_wording(decision)

    def render(
        self,
        decision: Decision,
        action_title: str | Callable[[str], str],
        case_id: str,
        page: str,
    ) -> str:
        """``action_title``: the title, or the title in a given language (the notice's:
        the decision's language where a template exists, else English)."""
        language = notice_language_for(decision)
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

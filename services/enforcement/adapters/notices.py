"""Notices enforcement edits onto a user's page or a page concerned, from template files.

A notice is public: it is rendered only from public fields (the action's title, the case
reference, the end date, the public log page), never from grounds, evidence or addresses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from casework import wikitext
from casework.contract import Decision

TEMPLATES = Path(__file__).resolve().parent / "templates"
FALLBACK_LANGUAGE = "en"


def notice_marker(case_id: str) -> str:
    """Put in every notice: finding it on the page means the notice is already there."""
    return f"<!-- casework-notice:{case_id} -->"


def _date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


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
            marker=notice_marker(case_id),
            case_id=case_id,
            action_title=action_title(language) if callable(action_title) else action_title,
            account=decision.subject.account,
            on_user_page=page == f"User:{decision.subject.account}",
            expires_at=decision.expires_at,
            public_log_page=self._public_log_page,
        )

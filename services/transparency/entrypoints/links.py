"""The portal's links: filters kept across paging and the language and time-zone switches,
and the one place that knows intake's inquiry form."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

# The query parameters a page keeps when it links to itself.
KEPT = ("type", "wiki", "year", "language", "after")


def self_link(path: str, query: Mapping[str, str], **changes: str | None) -> str:
    """``path`` with the kept parameters of ``query``, changed by ``changes`` (None drops)."""
    values = {k: query[k] for k in KEPT if query.get(k)}
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    return f"{path}?{urlencode(values)}" if values else path


def inquiry_form(intake_url: str, language: str, case_id: str | None = None) -> str:
    """Intake's public inquiry form, prefilled with the case asked about."""
    query = {"refers_to": case_id} if case_id else {}
    query["lang"] = language
    return f"{intake_url.rstrip('/')}/submit/inquiry?{urlencode(query)}"


def dsa_statement(base_url: str, dsa_id: str | None, url: str | None) -> str | None:
    """The statement of reasons in the DSA Transparency Database, when it has one."""
    if url:
        return url
    return f"{base_url}{dsa_id}" if dsa_id else None

"""The portal's query parameters, checked: a bad one is a field error naming the rule, and
nothing is read or changed. Pure."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from casework.errors import Kind, Rejected
from services.transparency.domain.periods import FIRST_YEAR, LAST_YEAR, Period

ACTION_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
WIKI = re.compile(r"^(\*|[a-z0-9_-]{1,64})$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
CASE_ID = re.compile(r"^[A-Z]{1,4}-[A-Z2-7]{12}$")
# A listed document's id: a case id, or a case id and a wiki (the wiki filter's documents).
LISTED_ID = re.compile(r"^[A-Z]{1,4}-[A-Z2-7]{12}(\|(\*|[a-z0-9_-]{1,64}))?$")
# The time zones a reader may choose (no JavaScript: the page cannot ask the browser).
TIME_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Kyiv",
    "Europe/Moscow",
    "Asia/Yekaterinburg",
    "Asia/Novosibirsk",
    "Asia/Vladivostok",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
)
FILTERS = ("type", "wiki", "year", "language")


def _invalid(field: str, rule: str, message: str) -> Rejected:
    return Rejected.one(Kind.INVALID, "invalid_query", field, rule, message)


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this (time, document id) of the list's order."""

    at: str
    doc_id: str

    def token(self) -> str:
        raw = json.dumps([self.at, self.doc_id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            at, doc_id = json.loads(raw)
            datetime.fromisoformat(at)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise _invalid("after", "cursor", "not a page cursor this portal gave") from exc
        if not isinstance(doc_id, str) or not LISTED_ID.match(doc_id):
            raise _invalid("after", "cursor", "not a page cursor this portal gave")
        return cls(at, doc_id)


@dataclass(frozen=True)
class ActionQuery:
    type: str | None = None
    wiki: str | None = None
    year: int | None = None
    language: str | None = None
    after: Cursor | None = None

    def filters(self) -> dict[str, str]:
        """The filters set, as query parameters (kept across paging and language)."""
        values = {"type": self.type, "wiki": self.wiki, "language": self.language}
        found = {k: v for k, v in values.items() if v}
        if self.year is not None:
            found["year"] = str(self.year)
        return found


def _matching(
    query: Mapping[str, str], name: str, pattern: re.Pattern[str], rule: str
) -> str | None:
    value = query.get(name, "").strip()
    if not value:
        return None
    if not pattern.match(value):
        raise _invalid(name, rule, f"{name} must match {pattern.pattern}")
    return value


def parse_year(text: str, field: str = "year") -> int:
    if not re.fullmatch(r"\d{4}", text):
        raise _invalid(field, "year", "a year is four digits")
    year = int(text)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise _invalid(field, "range", f"year must be {FIRST_YEAR}-{LAST_YEAR}")
    return year


def parse_period(year: str, quarter: str | None = None) -> Period:
    found = parse_year(year)
    if quarter is None:
        return Period(found)
    match = re.fullmatch(r"[Qq]?([1-4])", quarter)
    if match is None:
        raise _invalid("quarter", "quarter", "quarter must be 1-4 (or Q1-Q4)")
    return Period(found, int(match.group(1)))


def parse_actions(query: Mapping[str, str]) -> ActionQuery:
    year = query.get("year", "").strip()
    after = query.get("after", "").strip()
    return ActionQuery(
        type=_matching(query, "type", ACTION_TYPE, "action_type"),
        wiki=_matching(query, "wiki", WIKI, "wiki"),
        year=parse_year(year) if year else None,
        language=_matching(query, "language", LANGUAGE, "language"),
        after=Cursor.parse(after) if after else None,
    )


def parse_after(query: Mapping[str, str]) -> Cursor | None:
    after = query.get("after", "").strip()
    return Cursor.parse(after) if after else None


def parse_time_zone(chosen: str | None) -> str | None:
    """A time zone from the list, or None when none was asked for; anything else: 400."""
    if chosen is None or chosen == "":
        return None
    if chosen not in TIME_ZONES:
        raise _invalid("tz", "one_of", "tz must be one of: " + ", ".join(TIME_ZONES))
    return chosen


def check_case_id(case_id: str, field: str = "case_id") -> str:
    if not CASE_ID.match(case_id):
        raise _invalid(field, "pattern", f"{field} must match {CASE_ID.pattern}")
    return case_id

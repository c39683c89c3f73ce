"""The Atom feed (RFC 4287) of new actions and published inquiry answers. Pure: stdlib
``xml.etree``, which escapes every text it writes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from services.transparency.domain.records import ActionRecord, InquiryRecord
from services.transparency.domain.state import DEFAULT_LANGUAGE, statement_in

ATOM = "http://www.w3.org/2005/Atom"
FEED_ID = "urn:officeactions:transparency:feed"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    link: str
    updated: datetime
    summary: str


def action_entry(record: ActionRecord, base_url: str) -> Entry | None:
    statement = record.statement
    if statement is None:
        return None
    text = statement_in(statement, DEFAULT_LANGUAGE)
    who = f" — {statement.account}" if statement.account else ""
    return Entry(
        id=f"urn:officeactions:action:{record.case_id}:r{statement.revision}",
        title=f"{record.case_id}: {text.action_title}{who}",
        link=f"{base_url}/actions/{record.case_id}",
        updated=statement.published_at,
        summary=text.public_rationale or text.action_title,
    )


def inquiry_entry(record: InquiryRecord, base_url: str) -> Entry | None:
    answer = record.answer
    if answer is None:
        return None
    summary = (
        f"Answer held back: {answer.held_back_grounds}"
        if answer.held_back
        else f"{len(answer.answers)} question(s) answered or refused"
    )
    return Entry(
        id=f"urn:officeactions:inquiry:{record.case_id}",
        title=f"Inquiry {record.case_id} about {answer.about_case_id}",
        link=f"{base_url}/inquiries/{record.case_id}",
        updated=answer.answered_at,
        summary=summary,
    )


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}")
    element.text = text
    return element


def atom_feed(entries: Iterable[Entry], base_url: str, title: str, limit: int = 50) -> bytes:
    """The newest ``limit`` entries, newest first."""
    ET.register_namespace("", ATOM)
    newest = sorted(entries, key=lambda e: (e.updated, e.id), reverse=True)[:limit]
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "id", FEED_ID)
    _text(feed, "title", title)
    updated = newest[0].updated if newest else EPOCH
    _text(feed, "updated", updated.astimezone(UTC).isoformat())
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=f"{base_url}/feed.atom")
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=f"{base_url}/")
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", title)
    for item in newest:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", item.id)
        _text(entry, "title", item.title)
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=item.link)
        _text(entry, "updated", item.updated.astimezone(UTC).isoformat())
        _text(entry, "summary", item.summary)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body

"""The web form of each kind: its fields, how posted fields become the API's JSON body,
and which field an error belongs to. No I/O.

A field's HTML name is its dotted path in the JSON body ("requester.email",
"evidence.0.url"), so the API's field errors land next to the field they name.

Size: fields_of is one table (a case per kind), read best whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from casework.contract import BreachKind, EvidenceLocation, SubmissionKind
from casework.errors import FieldError

EVIDENCE_ROWS = 3
LANGUAGES = ("en", "ru")


@dataclass(frozen=True)
class Field:
    name: str
    widget: str  # text, email, textarea, lines, select, checkbox, date
    required: bool = False
    options: tuple[str, ...] = ()
    group: str = ""  # a fieldset (its legend's message key), for grouped fields
    preset: bool = False  # filled in for the person (their language): not a sign of input

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")

    @property
    def key(self) -> str:
        """Its message key: digits of repeated rows become n ("evidence.n.url")."""
        return re.sub(r"\.\d+(\.|$)", r".n\1", self.name)

    @property
    def row(self) -> int | None:
        found = re.search(r"\.(\d+)\.", self.name)
        return int(found.group(1)) + 1 if found else None


def _requester(required: bool = True) -> list[Field]:
    return [
        Field("requester.name", "text", required, group="requester"),
        Field("requester.email", "email", required, group="requester"),
        Field("requester.language", "select", False, LANGUAGES, group="requester", preset=True),
    ]


def _subject(required: bool = True) -> list[Field]:
    return [
        Field("subject.account", "text", required, group="subject"),
        Field("subject.wikis", "lines", False, group="subject"),
    ]


def _evidence(required: bool) -> list[Field]:
    places = tuple(p.value for p in EvidenceLocation)
    out = []
    for i in range(EVIDENCE_ROWS):
        first = required and i == 0
        out += [
            Field(f"evidence.{i}.url", "text", first, group=f"evidence.{i}"),
            Field(f"evidence.{i}.description", "text", first, group=f"evidence.{i}"),
            Field(f"evidence.{i}.where", "select", first, places, group=f"evidence.{i}"),
        ]
    return out


def fields_of(kind: SubmissionKind, actions: Sequence[str]) -> list[Field]:
    """The form of ``kind``; ``actions`` are the policy's action types."""
    action = Field("action", "select", True, tuple(actions))
    summary = Field("summary", "textarea", True)
    refers_to = Field("refers_to", "text", True)
    match kind:
        case SubmissionKind.REQUEST:
            return [
                action,
                summary,
                *_subject(),
                *_evidence(True),
                Field("prior_attempts", "lines"),
                *_requester(),
            ]
        case SubmissionKind.DMCA_NOTICE:
            return [
                Field("copyrighted_work", "textarea", True),
                Field("infringing_material", "textarea", True),
                Field("locations", "lines", True),
                Field("contact_address", "textarea", True),
                Field("contact_phone", "text"),
                Field("good_faith_statement", "checkbox", True),
                Field("accuracy_statement", "checkbox", True),
                Field("signature", "text", True),
                *_requester(),
            ]
        case SubmissionKind.CHILD_PROTECTION_REPORT:
            return [summary, *_evidence(False), *_requester(required=False)]
        case SubmissionKind.APPEAL:
            return [
                action,
                refers_to,
                Field("action_date", "date"),
                summary,
                *_subject(required=False),
                *_evidence(False),
                *_requester(),
            ]
        case SubmissionKind.BREACH_REPORT:
            return [
                Field("breach", "select", True, tuple(b.value for b in BreachKind)),
                refers_to,
                summary,
                *_subject(),
                *_evidence(True),
                Field("banned_event.name", "text", group="banned_event"),
                Field("banned_event.on", "date", group="banned_event"),
                *_requester(),
            ]
        case SubmissionKind.ABUSE_REPORT:
            return [
                Field("named_staff", "lines", True),
                Field("refers_to", "text"),
                summary,
                *_evidence(False),
                *_requester(),
            ]
        case SubmissionKind.INQUIRY:
            # The opt-in to be named on the public portal: unticked unless the asker ticks it.
            named = Field("requester.named_publicly", "checkbox", group="requester")
            return [refers_to, Field("questions", "lines", True), *_requester(), named]
    raise ValueError(kind)


# Groups left entirely blank are left out, so an optional one is not half-present.
OPTIONAL_GROUPS = {
    SubmissionKind.CHILD_PROTECTION_REPORT: {"requester", "subject"},
    SubmissionKind.APPEAL: {"subject"},
    SubmissionKind.BREACH_REPORT: {"banned_event"},
}


@dataclass(frozen=True)
class Posted:
    """What the person typed, as the JSON body, and the evidence rows' original positions."""

    payload: dict[str, Any]
    evidence_rows: list[int]


def to_payload(kind: SubmissionKind, fields: Sequence[Field], form: Mapping[str, str]) -> Posted:
    payload: dict[str, Any] = {}
    optional = OPTIONAL_GROUPS.get(kind, set())
    rows: list[int] = []
    for i in range(EVIDENCE_ROWS):
        names = [f.name for f in fields if f.group == f"evidence.{i}"]
        if names and any(form.get(n, "").strip() for n in names):
            rows.append(i)
    blank_groups = {
        f.group
        for f in fields
        if f.group
        and not any(
            form.get(g.name, "").strip() for g in fields if g.group == f.group and not g.preset
        )
    }
    for field in fields:
        raw = form.get(field.name, "")
        if field.group.startswith("evidence."):
            continue
        if field.group in optional and field.group in blank_groups:
            continue
        value = _value(field, raw)
        if value is None:
            continue
        _put(payload, field.name.split("."), value)
    if rows or any(f.group.startswith("evidence.") for f in fields):
        evidence = []
        for i in rows:
            item = {}
            for part in ("url", "description", "where"):
                text = form.get(f"evidence.{i}.{part}", "").strip()
                if text:
                    item[part] = text
            evidence.append(item)
        payload["evidence"] = evidence
    for group in ("requester", "subject"):
        if any(f.group == group for f in fields) and group not in optional:
            payload.setdefault(group, {})
    return Posted(payload, rows)


def _value(field: Field, raw: str) -> Any:
    if field.widget == "checkbox":
        return raw != ""
    if field.widget == "lines":
        return [line.strip() for line in raw.splitlines() if line.strip()]
    text = raw.strip()
    return text or None


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def place_errors(
    errors: Sequence[FieldError], fields: Sequence[Field], posted: Posted
) -> tuple[dict[str, list[FieldError]], list[FieldError]]:
    """Errors by the form field they belong to, and those that belong to none."""
    names = {f.name for f in fields}
    by_field: dict[str, list[FieldError]] = {}
    general: list[FieldError] = []
    for error in errors:
        name = _form_name(error.field, posted)
        while name and name not in names:
            name = name.rpartition(".")[0]
        if name:
            by_field.setdefault(name, []).append(error)
        else:
            general.append(error)
    return by_field, general


def _form_name(field: str, posted: Posted) -> str:
    """Evidence rows were compacted: map the body's index back to the form's row."""
    parts = field.split(".")
    if len(parts) >= 2 and parts[0] == "evidence" and parts[1].isdigit():
        index = int(parts[1])
        if index < len(posted.evidence_rows):
            parts[1] = str(posted.evidence_rows[index])
        elif len(parts) == 2:
            parts = parts[:1]
    if field == "evidence" and not posted.evidence_rows:
        return "evidence.0.url"
    return ".".join(parts)

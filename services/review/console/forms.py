"""HTML form fields to the use cases' input models. Pure: a form in, a plain dict out.

Empty fields mean "not given"; list fields are comma- or line-separated; structured
lines use `|` between their parts (an event: `name | starts_on | ends_on`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from multidict import MultiMapping

Form = MultiMapping[Any]


def text(form: Form, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def optional(form: Form, name: str) -> str | None:
    return text(form, name) or None


def items(form: Form, name: str) -> list[str]:
    raw = text(form, name).replace("\n", ",")
    return [part.strip() for part in raw.split(",") if part.strip()]


def lines(form: Form, name: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.split("|")]
        for line in text(form, name).splitlines()
        if line.strip()
    ]


def choices(form: Form, name: str) -> list[str]:
    return [v for v in form.getall(name, []) if isinstance(v, str) and v]


def tristate(form: Form, name: str) -> bool | None:
    return {"yes": True, "no": False}.get(text(form, name))


def decision_fields(form: Form) -> dict[str, Any]:
    subject: dict[str, Any] = {"account": text(form, "subject_account")}
    if optional(form, "subject_email"):
        subject["email"] = text(form, "subject_email")
    if optional(form, "subject_language"):
        subject["language"] = text(form, "subject_language")
    fields: dict[str, Any] = {
        "action_type": optional(form, "action_type"),
        "subject": subject,
        "wikis": items(form, "wikis"),
        "expires_at": optional(form, "expires_at"),
        "grounds": choices(form, "grounds"),
        "statement_of_facts": text(form, "statement_of_facts"),
        "public_rationale": text(form, "public_rationale"),
        "appealable": tristate(form, "appealable"),
        "appeal_until": optional(form, "appeal_until"),
        "language": optional(form, "language"),
        "evidence": [{"id": i} for i in choices(form, "evidence")],
        "disclosure": {
            "public_statement": text(form, "public_statement") != "no",
            "confidential_grounds": text(form, "confidential_grounds"),
        },
        "notices": {
            "user_page": text(form, "notice_user_page") == "yes",
            "concerned_pages": text(form, "notice_concerned_pages") == "yes",
        },
    }
    if items(form, "ib_counterparties"):
        fields["interaction_ban"] = {
            "counterparties": items(form, "ib_counterparties"),
            "two_way": text(form, "ib_two_way") == "yes",
            "restrictions": [r[0] for r in lines(form, "ib_restrictions")],
            "exceptions": [e[0] for e in lines(form, "ib_exceptions")],
        }
    if items(form, "rr_groups") or optional(form, "rr_reapply"):
        fields["rights_removal"] = {
            "groups": items(form, "rr_groups"),
            "reapply_criteria": text(form, "rr_reapply"),
        }
    if text(form, "eb_enabled") == "yes" or lines(form, "eb_events"):
        fields["event_ban"] = {"events": [_event(cells) for cells in lines(form, "eb_events")]}
    if lines(form, "content_pages"):
        fields["content"] = {"pages": [_page(cells) for cells in lines(form, "content_pages")]}
    return {k: v for k, v in fields.items() if v is not None}


def determination_fields(form: Form) -> dict[str, Any]:
    return {
        "text": form.get("text", "") if isinstance(form.get("text", ""), str) else "",
        "disclosure": text(form, "disclosure"),
        "redacted_text": optional(form, "redacted_text"),
        "grounds": text(form, "grounds"),
    }


def signoff_fields(form: Form) -> dict[str, Any]:
    comment = form.get("comment", "")
    return {
        "level": text(form, "level"),
        "verdict": text(form, "verdict"),
        "comment": comment if isinstance(comment, str) else "",
    }


def _event(cells: list[str]) -> Mapping[str, str]:
    padded = [*cells, "", "", ""]
    return {"name": padded[0], "starts_on": padded[1], "ends_on": padded[2]}


def _page(cells: list[str]) -> dict[str, Any]:
    padded = [*cells, "", "", "", ""]
    page: dict[str, Any] = {"wiki": padded[0], "title": padded[1]}
    if padded[2]:
        page["removal"] = padded[2]
    if padded[3]:
        page["protection"] = padded[3]
    return page

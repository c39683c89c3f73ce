"""HTML form fields to the use cases' input models. Pure: a form in, a plain dict out.

Empty fields mean "not given"; list fields are comma- or line-separated; structured
lines use `|` between their parts (an event: `name | starts_on | ends_on`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from multidict import MultiMapping

from casework.contract import Question

Form = MultiMapping[Any]
# What the contract records for a question nobody decided (casework/contract/decision.py).
UNDECIDED = "no disclosure decision recorded"


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
        "evidence": [
            {"id": i, "audiences": choices(form, f"evidence.{i}.audiences")}
            for i in choices(form, "evidence")
        ],
        "disclosure": {
            "public_statement": text(form, "public_statement") != "no",
            "confidential_grounds": text(form, "confidential_grounds"),
            "answers": {q.value: _release(form, q) for q in Question},
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


def _release(form: Form, question: Question) -> dict[str, Any]:
    """Who may have the answer to one of the five questions, and why not everyone."""
    audiences = choices(form, f"disclosure.{question.value}")
    grounds = text(form, f"disclosure.{question.value}.grounds")
    if not audiences and not grounds:
        grounds = UNDECIDED
    return {"audiences": audiences, "grounds": grounds}


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


def assign_fields(form: Form) -> dict[str, Any]:
    return {"assignee": optional(form, "assignee")}


def evidence_fields(form: Form) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "description": text(form, "description"),
        "where": text(form, "where"),
        "audiences": choices(form, "audiences"),
    }
    if optional(form, "url"):
        fields["url"] = text(form, "url")
    return fields


def link_fields(form: Form) -> dict[str, Any]:
    return {"kind": text(form, "kind"), "case_id": text(form, "case_id")}


def merge_fields(form: Form) -> dict[str, Any]:
    return {"into": text(form, "into")}


def waiting_fields(form: Form) -> dict[str, Any]:
    return {"waiting": tristate(form, "waiting"), "reason": text(form, "reason")}


def reversal_fields(form: Form) -> dict[str, Any]:
    return {
        "grounds": text(form, "grounds"),
        "reason": text(form, "reason"),
        "appeal_case_id": optional(form, "appeal_case_id"),
    }


def inquiry_fields(form: Form) -> dict[str, Any]:
    """One answer per question, numbered from 0 in the inquiry's order; the hold-back box
    and its grounds (blank grounds are not given)."""
    count = 0
    while f"answers.{count}.outcome" in form or f"answers.{count}.text" in form:
        count += 1
    return {
        "answers": [
            {"outcome": text(form, f"answers.{i}.outcome"), "text": text(form, f"answers.{i}.text")}
            for i in range(count)
        ],
        "held_back": text(form, "held_back") == "yes",
        "held_back_grounds": optional(form, "held_back_grounds"),
    }

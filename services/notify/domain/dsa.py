"""DSA statements of reasons (Art. 17 and 24(5) DSA) for the EU Transparency Database.

Built only from public-level fields: the public view's clauses and rationale,
the policy's mapping of the action type, dates. Never the requester, an
address, an evidence item or counsel's text. Field names and enumerations
follow the database's statement API (tests/data/dsa holds its rules as data).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from casework.policy.notify import DsaMapping, DsaRules
from services.notify.domain.views import PublicView

PUID_NAMESPACE = uuid.UUID("6f1d8f44-5b7e-4d0c-9a55-6b2b7d0f6c11")
TEXT_LIMIT = 500
EXPLANATION_LIMIT = 2000
FACTS_LIMIT = 5000


def _day(value: datetime) -> str:
    return value.date().isoformat()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def puid(case_id: str, revision: int) -> str:
    """The platform's unique id of the statement: stable for a case and decision revision."""
    return str(uuid.uuid5(PUID_NAMESPACE, f"{case_id}/r{revision}"))


CONFIDENTIAL_FACTS = "Confidential decision: the facts are not published."


def statement_of_reasons(
    view: PublicView,
    mapping: DsaMapping,
    rules: DsaRules,
    *,
    revision: int,
    confidential: bool = False,
) -> dict[str, Any]:
    """A confidential decision (no public statement) still gets its statement, without facts."""
    if confidential:
        view = view.model_copy(update={"public_rationale": CONFIDENTIAL_FACTS})
    clauses = [c for a in view.answers if a.question == "clauses" for c in a.clauses]
    contractual = "; ".join(f"{c.source} {c.section}" for c in clauses) or view.action_title
    statement: dict[str, Any] = {
        "decision_ground": mapping.decision_ground,
        "category": mapping.category,
        "content_type": list(mapping.content_type),
        "territorial_scope": list(rules.territorial_scope),
        "content_date": _day(view.at),
        "application_date": _day(view.at),
        "decision_facts": _cut(
            f"{view.action_title} ({view.case_id}): {view.public_rationale}", FACTS_LIMIT
        ),
        "source_type": mapping.source_type,
        "automated_detection": "No",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "puid": puid(view.case_id, revision),
    }
    if mapping.category_specification:
        statement["category_specification"] = list(mapping.category_specification)
    if mapping.decision_account:
        statement["decision_account"] = mapping.decision_account
        statement["account_type"] = "ACCOUNT_TYPE_PRIVATE"
        if view.expires_at is not None:
            statement["end_date_account_restriction"] = _day(view.expires_at)
    if mapping.decision_visibility:
        statement["decision_visibility"] = list(mapping.decision_visibility)
        if view.expires_at is not None:
            statement["end_date_visibility_restriction"] = _day(view.expires_at)
    if mapping.decision_provision:
        statement["decision_provision"] = mapping.decision_provision
        if view.expires_at is not None:
            statement["end_date_service_restriction"] = _day(view.expires_at)
    if mapping.decision_ground == "DECISION_GROUND_ILLEGAL_CONTENT":
        statement["illegal_content_legal_ground"] = _cut(
            mapping.illegal_content_legal_ground or contractual, TEXT_LIMIT
        )
        statement["illegal_content_explanation"] = _cut(view.public_rationale, EXPLANATION_LIMIT)
    else:
        statement["incompatible_content_ground"] = _cut(contractual, TEXT_LIMIT)
        statement["incompatible_content_explanation"] = _cut(
            view.public_rationale, EXPLANATION_LIMIT
        )
        statement["incompatible_content_illegal"] = "No"
    return statement

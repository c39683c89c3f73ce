"""Records as the JSON API gives them: public fields only, dates in UTC ISO 8601."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.transparency.domain.records import ActionRecord, AppealRecord, InquiryRecord
from services.transparency.domain.state import state_of, statement_in


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def inquiry_status(record: InquiryRecord) -> str:
    if record.answer is None:
        return "awaiting-answer"
    return "held-back" if record.answer.held_back else "answered"


def deadline_met(record: InquiryRecord) -> bool | None:
    deadline = record.deadline_at
    if record.answer is None or deadline is None:
        return None
    return record.answer.answered_at <= deadline


def action_json(record: ActionRecord, now: datetime, language: str = "en") -> dict[str, Any]:
    statement = record.statement
    assert statement is not None
    shown = statement_in(statement, language)
    body = statement.model_dump(mode="json")
    return {
        **body,
        "action_title": shown.action_title,
        "state": state_of(record, now).value,
        "dsa_statement": record.dsa.model_dump(mode="json") if record.dsa else None,
        "reversal": record.reversal.model_dump(mode="json") if record.reversal else None,
    }


def appeal_json(record: AppealRecord) -> dict[str, Any]:
    return {
        "case_id": record.case_id,
        "about_case_id": record.about_case_id,
        "filed_at": iso(record.filed.filed_at) if record.filed else None,
        "outcome": record.decided.outcome if record.decided else None,
        "decided_at": iso(record.decided.decided_at) if record.decided else None,
    }


def inquiry_json(record: InquiryRecord) -> dict[str, Any]:
    answer = record.answer
    return {
        "case_id": record.case_id,
        "about_case_id": record.about_case_id,
        "status": inquiry_status(record),
        "asked_at": iso(record.asked_at),
        "deadline_at": iso(record.deadline_at),
        "answered_at": iso(answer.answered_at) if answer else None,
        "deadline_met": deadline_met(record),
        "question_count": record.received.question_count if record.received else None,
        "language": answer.language if answer else None,
        "asker_name": answer.asker_name if answer else None,
        "answers": [a.model_dump(mode="json") for a in answer.answers] if answer else [],
        "held_back_grounds": answer.held_back_grounds if answer and answer.held_back else None,
    }

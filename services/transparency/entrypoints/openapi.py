"""The OpenAPI 3.1 document of the portal's JSON API (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

from casework.http import ERROR_SCHEMA
from services.transparency.domain.query import ACTION_TYPE, CASE_ID, LANGUAGE, WIKI

NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
STRINGS = {"type": "array", "items": {"type": "string"}}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
SHARE = {
    "type": "object",
    "required": ["met", "total", "share"],
    "properties": {
        "met": {"type": "integer"},
        "total": {"type": "integer"},
        "share": {"type": ["number", "null"]},
    },
}
TALLY = {
    "type": "object",
    "required": ["answered", "refused", "grounds"],
    "properties": {
        "answered": {"type": "integer"},
        "refused": {"type": "integer"},
        "grounds": COUNTS,
    },
}
ACTION = {
    "type": "object",
    "required": ["case_id", "revision", "action_type", "action_title", "state", "statements"],
    "properties": {
        "case_id": {"type": "string"},
        "revision": {"type": "integer"},
        "action_type": {"type": "string"},
        "action_title": {"type": "string"},
        "account": {"type": ["string", "null"]},
        "wikis": STRINGS,
        "enforced_on": STRINGS,
        "language": {"type": "string"},
        "state": {"enum": ["in-force", "expired", "reversed"]},
        "appealable": {"type": "boolean"},
        "requested_at": NULLABLE_TIME,
        "deadline_at": NULLABLE_TIME,
        "decided_at": NULLABLE_TIME,
        "enforced_at": {"type": "string", "format": "date-time"},
        "expires_at": NULLABLE_TIME,
        "published_at": {"type": "string", "format": "date-time"},
        "statements": {"type": "array", "items": {"type": "object"}},
        "log_entry": {"type": ["object", "null"]},
        "dsa_statement": {"type": ["object", "null"]},
        "reversal": {"type": ["object", "null"]},
        "appeals": {"type": "array", "items": {"type": "object"}},
        "inquiries": {"type": "array", "items": {"$ref": "#/components/schemas/Inquiry"}},
    },
}
INQUIRY = {
    "type": "object",
    "required": ["case_id", "about_case_id", "status", "asked_at", "answers"],
    "properties": {
        "case_id": {"type": "string"},
        "about_case_id": {"type": "string"},
        "status": {"enum": ["awaiting-answer", "answered", "held-back"]},
        "asked_at": {"type": "string", "format": "date-time"},
        "deadline_at": NULLABLE_TIME,
        "answered_at": NULLABLE_TIME,
        "deadline_met": {"type": ["boolean", "null"]},
        "question_count": {"type": ["integer", "null"]},
        "language": {"type": ["string", "null"]},
        "asker_name": {"type": ["string", "null"]},
        "answers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["question", "outcome", "text"],
                "properties": {
                    "question": {"type": "string"},
                    "outcome": {"enum": ["answered", "refused"]},
                    "text": {"type": "string"},
                },
            },
        },
        "held_back_grounds": {"type": ["string", "null"]},
    },
}
REPORT = {
    "type": "object",
    "required": ["period", "year", "actions", "by_type", "by_wiki"],
    "properties": {
        "period": {"type": "string"},
        "language": {"type": "string"},
        "year": {"type": "integer"},
        "quarter": {"type": ["integer", "null"]},
        "actions": {"type": "integer"},
        "by_type": COUNTS,
        "by_wiki": COUNTS,
        "appeals_filed": {"type": "integer"},
        "appeals_upheld": {"type": "integer"},
        "appeals_dismissed": {"type": "integer"},
        "reversals": {"type": "integer"},
        "reversals_by_grounds": COUNTS,
        "median_days_to_decision": {"type": ["number", "null"]},
        "deadlines_by_type": {"type": "object", "additionalProperties": SHARE},
        "statement_questions": {"type": "object", "additionalProperties": TALLY},
        "inquiries_received": {"type": "integer"},
        "inquiries_answered": {"type": "integer"},
        "inquiries_held_back": {"type": "integer"},
        "held_back_grounds": COUNTS,
        "inquiry_questions": TALLY,
        "inquiry_deadlines": SHARE,
    },
}


def _page_of(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "next": {"type": ["string", "null"], "description": "The next page's `after`."},
        },
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


AFTER = _query(
    "after",
    "A page cursor from `next` (opaque).",
    {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "maxLength": 400},
)
LANG = _query(
    "lang", "Language of `action_title` and of the grounds counted.", {"enum": ["en", "ru"]}
)
BAD = _json("Error", "A query parameter breaks a rule (the field and the rule are named).")
MISSING = _json("Error", "No such record.")
CASE = _path("case_id", {"type": "string", "pattern": CASE_ID.pattern})


def _operation(
    summary: str, parameters: list[dict[str, Any]], ok: str, *, found: bool = False
) -> dict[str, Any]:
    responses = {"200": _json(ok, summary), "400": BAD}
    if found:
        responses["404"] = MISSING
    return {"get": {"summary": summary, "parameters": parameters, "responses": responses}}


def openapi_document() -> dict[str, Any]:
    list_filters = [
        _query("type", "Action type.", {"type": "string", "pattern": ACTION_TYPE.pattern}),
        _query(
            "wiki",
            "Wiki id (`*`: actions on every wiki).",
            {"type": "string", "pattern": WIKI.pattern},
        ),
        _query("year", "Year enforced.", {"type": "integer", "minimum": 2000, "maximum": 2100}),
        _query("language", "Community language.", {"type": "string", "pattern": LANGUAGE.pattern}),
        AFTER,
        LANG,
    ]
    year = _path("year", {"type": "integer", "minimum": 2000, "maximum": 2100})
    quarter = _query(
        "quarter", "1-4; none: the whole year.", {"type": "integer", "minimum": 1, "maximum": 4}
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Office actions transparency portal",
            "version": "1",
            "description": "Public, read-only: published office actions, the inquiries about "
            "them and the numbers. Dates are UTC (ISO 8601).",
        },
        "paths": {
            "/api/v1/actions": _operation(
                "Published actions, newest first.", list_filters, "ActionPage"
            ),
            "/api/v1/actions/{case_id}": _operation(
                "One action, its appeals and inquiries.", [CASE, LANG], "Action", found=True
            ),
            "/api/v1/inquiries": _operation("Inquiries, newest first.", [AFTER], "InquiryPage"),
            "/api/v1/inquiries/{case_id}": _operation(
                "One inquiry.", [CASE], "Inquiry", found=True
            ),
            "/api/v1/reports/{year}": _operation(
                "A year's or a quarter's report.", [year, quarter], "Report"
            ),
        },
        "components": {
            "schemas": {
                "Action": ACTION,
                "ActionPage": _page_of("Action"),
                "Inquiry": INQUIRY,
                "InquiryPage": _page_of("Inquiry"),
                "Report": REPORT,
                "Error": ERROR_SCHEMA,
            }
        },
    }

"""The OpenAPI 3.1 document of intake's API, generated from the input models and the policy."""

from __future__ import annotations

from typing import Any, get_args

from pydantic.json_schema import models_json_schema

from casework.contract import ProgressStage, SubmissionKind
from casework.http import ERROR_SCHEMA
from casework.policy import Policy
from services.intake.domain.forms import FORMS
from services.intake.entrypoints.examples import examples
from services.intake.policy import IntakeRules

REF = "#/components/schemas/{model}"
# A reference intake hands out (domain/submission.py new_submission_id).
REFERENCE_PATTERN = "R-[A-Z2-7]{12}"


def _errors(*statuses: str) -> dict[str, Any]:
    described = {
        "400": "The body is not JSON (or not UTF-8).",
        "409": "The Idempotency-Key was used before for a different submission.",
        "413": "The body is too large.",
        "415": "The body is not declared application/json.",
        "422": "A field breaks a rule: each is named with the rule and a message.",
        "429": "Too many submissions from this sender or address; see Retry-After.",
    }
    out: dict[str, Any] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": described[status],
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
        }
        if status == "429":
            response["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
            }
        out[status] = response
    return out


def _submit_operation(kind: SubmissionKind, schema_name: str, example: Any) -> dict[str, Any]:
    return {
        "summary": f"Submit a {kind.value.replace('-', ' ')}",
        "operationId": f"submit_{kind.value.replace('-', '_')}",
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": "A retried POST with the same key and body answers the same "
                "reference (Idempotent-Replayed: true) instead of submitting twice.",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": REF.format(model=schema_name)},
                    "examples": {kind.value: {"value": example}},
                }
            },
        },
        "responses": {
            "202": {
                "description": "Received: quote the reference in any later correspondence.",
                "content": {"application/json": {"schema": {"$ref": REF.format(model="Received")}}},
            },
            **_errors("400", "409", "413", "415", "422", "429"),
        },
    }


def _declare_policy(components: dict[str, Any], policy: Policy) -> None:
    """The policy's rules that a schema can say: which action types a request or an appeal
    may name, and which request types must link to earlier attempts (prior_attempts)."""
    actions = sorted(policy.action_types)
    appealable = sorted(n for n, a in policy.action_types.items() if a.appealable)
    need_prior = sorted(n for n, a in policy.action_types.items() if a.requires_prior_attempts)
    request = components["RequestForm"]
    request["properties"]["action"]["enum"] = actions
    if need_prior:
        request["allOf"] = [
            {
                "if": {"properties": {"action": {"enum": need_prior}}, "required": ["action"]},
                "then": {
                    "required": ["prior_attempts"],
                    "properties": {"prior_attempts": {"minItems": 1}},
                },
            }
        ]
    components["AppealForm"]["properties"]["action"]["enum"] = appealable


def openapi_document(policy: Policy, intake: IntakeRules, wiki_base: str) -> dict[str, Any]:
    components = _components(policy, intake)
    samples = examples(wiki_base)
    paths: dict[str, Any] = {}
    for kind, model in FORMS.items():
        paths[f"/api/v1/submissions/{kind.value}"] = {
            "post": _submit_operation(kind, model.__name__, samples[kind])
        }
    alias = _submit_operation(
        SubmissionKind.REQUEST,
        FORMS[SubmissionKind.REQUEST].__name__,
        samples[SubmissionKind.REQUEST],
    )
    alias["operationId"] = "submit_request_alias"
    alias["summary"] = "Submit a request (alias of /api/v1/submissions/request)"
    paths["/api/v1/requests"] = {"post": alias}
    paths["/api/v1/submissions/{reference}"] = {"get": _status_operation()}
    paths["/api/v1/openapi.json"] = {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": {"200": {"description": "The OpenAPI 3.1 document."}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Office actions intake",
            "version": policy.version,
            "description": "Submissions to the office actions process: one route per kind. "
            "Rules come from the policy file; the summary bounds shown are the policy's. "
            "An inquiry's questions and answers are published on the public transparency "
            "portal; its asker is named there only with requester.named_publicly: true.",
        },
        "paths": paths,
        "components": {"schemas": components},
    }


def _components(policy: Policy, intake: IntakeRules) -> dict[str, Any]:
    """The input models' schemas with the policy's bounds, and the answers' schemas."""
    _, schemas = models_json_schema(
        [(model, "validation") for model in FORMS.values()], ref_template=REF
    )
    components: dict[str, Any] = dict(schemas.get("$defs", {}))
    for kind, model in FORMS.items():
        bounds = intake.kind(kind.value).summary
        summary = components[model.__name__]["properties"].get("summary")
        if summary is not None:
            # The policy file's bounds, stricter than the shape's.
            target = summary if "anyOf" not in summary else summary["anyOf"][0]
            target["minLength"] = bounds.min_chars
            target["maxLength"] = bounds.max_chars
    _declare_policy(components, policy)
    components["Error"] = ERROR_SCHEMA
    components["Received"] = {
        "type": "object",
        "required": ["reference", "status"],
        "properties": {"reference": {"type": "string"}, "status": {"type": "string"}},
    }
    components["Status"] = _status_schema()
    return components


def _status_schema() -> dict[str, Any]:
    """The life cycle a requester sees: stages and dates, nothing private."""
    statuses = ["received", *get_args(ProgressStage)]
    time = {"type": "string", "format": "date-time"}
    return {
        "type": "object",
        "required": [
            "reference",
            "kind",
            "status",
            "received_at",
            "history",
            "appeal_open_until",
        ],
        "additionalProperties": False,
        "properties": {
            "reference": {"type": "string", "pattern": f"^{REFERENCE_PATTERN}$"},
            "kind": {"type": "string", "enum": [k.value for k in SubmissionKind]},
            "status": {"type": "string", "enum": statuses},
            "received_at": time,
            "history": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["status", "at"],
                    "additionalProperties": False,
                    "properties": {"status": {"type": "string", "enum": statuses}, "at": time},
                },
            },
            "appeal_open_until": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "While an approved or enforced action may still be appealed.",
            },
        },
    }


def _status_operation() -> dict[str, Any]:
    return {
        "summary": "Where a submission stands, by its reference: the stages of its case",
        "operationId": "submission_status",
        "parameters": [
            {
                "name": "reference",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": f"^{REFERENCE_PATTERN}$"},
            }
        ],
        "responses": {
            "200": {
                "description": "Known submission.",
                "content": {"application/json": {"schema": {"$ref": REF.format(model="Status")}}},
            },
            "404": {
                "description": "No such submission.",
                "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
            },
        },
    }

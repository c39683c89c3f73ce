"""The OpenAPI document of review's JSON API, generated from the pydantic models."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from casework.http import ERROR_SCHEMA
from services.review.domain.queue import QueueQuery

# (method, path, summary, request model, response model, status)
Operation = tuple[str, str, str, type[BaseModel] | None, type[BaseModel] | None, int]
# Every part of the app that serves JSON API routes adds its operations here, so the
# one document describes them all.
OPERATIONS: web.AppKey[list[Operation]] = web.AppKey("openapi_operations", list)


# Successes besides an operation's own status (same response body).
ALSO_SUCCEEDS: dict[tuple[str, str], list[tuple[int, str]]] = {
    ("post", "/api/v1/cases/{case_id}/reversal"): [
        (202, "Approval recorded; the reversal is pending until enough people approved")
    ],
}


def openapi_document(operations: list[Operation]) -> dict[str, Any]:
    models = {m for op in operations for m in (op[3], op[4]) if m is not None}
    keys, schema = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    refs = {model: keys[(model, "validation")] for model in models}
    schemas: dict[str, Any] = {**schema.get("$defs", {}), "Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, request, response, status in operations:
        operation: dict[str, Any] = {
            "summary": summary,
            "security": [{"bearer": []}],
            "responses": {
                str(status): _content(refs[response]) | {"description": "OK"}
                if response
                else {"description": "OK"},
                **{
                    str(code): _content({"$ref": "#/components/schemas/Error"})
                    | {"description": ERRORS[code]}
                    for code in _error_statuses(method, path, request is not None)
                },
            },
        }
        params = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in _path_params(path)
        ]
        if method == "get" and path == "/api/v1/cases":
            params += _query_params(QueueQuery)
        if params:
            operation["parameters"] = params
        if request is not None:
            operation["requestBody"] = {"required": True} | _content(refs[request])
        for code, text in ALSO_SUCCEEDS.get((method, path), []):
            reply = _content(refs[response]) if response else {}
            operation["responses"][str(code)] = reply | {"description": text}
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Office actions review API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


# Every status an operation can answer besides its success, each with the JSON error
# body; the fuzz test (tests/test_fuzz_review.py) checks nothing else is ever answered.
ERRORS = {
    400: "The body is not JSON, or nested too deep (field `body`)",
    401: "No valid staff token or session",
    403: "The role or the case does not allow it",
    404: "No such case or staff member",
    409: "Conflicts with the case's or the member's state",
    413: "The body is too large",
    415: "The body is not application/json",
    422: "A field breaks a rule: each one named with the rule",
}


def _error_statuses(method: str, path: str, has_body: bool) -> list[int]:
    codes = {401, 403}
    if "{" in path:
        codes |= {404, 409, 422}
    if has_body:
        codes |= {400, 409, 413, 415, 422}
    if method == "get" and path == "/api/v1/cases":
        codes.add(422)
    return sorted(codes)


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in schema["properties"].items()
    ]

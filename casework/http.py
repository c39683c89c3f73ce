"""HTTP helpers every service uses: JSON errors, request validation, health, metrics."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from pydantic import BaseModel, ValidationError

from casework.errors import FieldError, Kind, Rejected

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
HealthCheck = Callable[[], Awaitable[None]]

HEALTH_CHECKS: web.AppKey[Mapping[str, HealthCheck]] = web.AppKey("health_checks", Mapping)
METRICS: web.AppKey[CollectorRegistry] = web.AppKey("metrics", CollectorRegistry)


STATUS_OF_KIND = {
    Kind.INVALID: 422,
    Kind.CONFLICT: 409,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.UNAUTHENTICATED: 401,
}


class RequestRejected(Exception):
    """A request that breaks an HTTP-level rule (media type, JSON syntax, validation)."""

    def __init__(self, status: int, code: str, errors: list[FieldError]) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.errors = errors


def field_errors(exc: ValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "body"
        out.append(FieldError(field=field, rule=str(err["type"]), message=str(err["msg"])))
    return out


def error_body(code: str, errors: list[FieldError], message: str = "") -> dict[str, Any]:
    return {
        "error": code,
        "message": message or code.replace("_", " "),
        "errors": [e.as_json() for e in errors],
    }


# Deepest nesting of arrays and objects a JSON body may have. Every input model is far
# shallower; the bound keeps a hostile body from exhausting the parser or the validator.
MAX_JSON_DEPTH = 32


def _too_deep(depth: int) -> RequestRejected:
    return RequestRejected(
        400,
        "invalid_json",
        [FieldError("body", "max_depth", f"nested deeper than {depth} arrays or objects")],
    )


def _check_json_value(payload: Any, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` and strings that are not Unicode text
    (lone surrogates from ``\\ud800`` escapes, which no store or encoder accepts).
    Iterative: a hostile body cannot exhaust the stack here."""
    pending: list[tuple[Any, int]] = [(payload, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            pending.extend((k, depth + 1) for k in value)
            pending.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            pending.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise RequestRejected(
                    400,
                    "invalid_json",
                    [FieldError("body", "unicode", f"not Unicode text: {exc.reason}")],
                ) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_body(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a request body as strict JSON (no NaN or Infinity), at most ``max_depth``
    deep, with text strings only; RequestRejected (400, field ``body``) otherwise."""
    try:
        payload = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise RequestRejected(400, "invalid_json", [FieldError("body", "json", str(exc))]) from exc
    _check_json_value(payload, max_depth)
    return payload


async def read_json(request: web.Request, model: type[M], *, strict: bool = False) -> M:
    """Parse and validate the JSON body; reject with field errors, changing nothing.

    ``strict`` validates as JSON in pydantic's strict mode: no coercion between types
    (``1`` or ``"true"`` is not a boolean, ``"5"`` is not a number); dates, enums and
    the like are still read from their JSON strings."""
    if request.content_type != "application/json":
        raise RequestRejected(
            415,
            "unsupported_media_type",
            [FieldError("Content-Type", "equals", "must be application/json")],
        )
    raw = await request.read()
    payload = parse_json_body(raw)
    try:
        if strict:
            return model.model_validate_json(raw, strict=True)
        return model.model_validate(payload)
    except ValidationError as exc:
        raise RequestRejected(422, "validation_failed", field_errors(exc)) from exc


# The JSON Schema of every error body ``json_errors`` writes, for services' OpenAPI documents.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message", "errors"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "rule", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "rule": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestRejected as exc:
        return web.json_response(error_body(exc.code, exc.errors), status=exc.status)
    except Rejected as exc:
        return web.json_response(error_body(exc.code, exc.errors), status=STATUS_OF_KIND[exc.kind])
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        kept = {k: v for k, v in exc.headers.items() if k.lower() != "content-type"}
        return web.json_response(error_body(code, [], exc.reason), status=exc.status, headers=kept)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response(error_body("internal_error", []), status=500)


def request_counter(registry: CollectorRegistry) -> Counter:
    return Counter(
        "http_requests",
        "HTTP requests served, by route and status.",
        ["method", "route", "status"],
        registry=registry,
    )


def metrics_middleware(counter: Counter) -> Any:
    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        counter.labels(request.method, name, str(response.status)).inc()
        return response

    return count


async def healthz(request: web.Request) -> web.Response:
    """200 when every dependency answers, 503 naming the ones that do not."""
    results: dict[str, dict[str, Any]] = {}
    healthy = True
    for name, check in request.app[HEALTH_CHECKS].items():
        started = time.perf_counter()
        try:
            await check()
            results[name] = {"status": "ok"}
        except Exception as exc:
            healthy = False
            results[name] = {"status": "failing", "error": f"{type(exc).__name__}: {exc}"}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return web.json_response(
        {"status": "ok" if healthy else "failing", "checks": results},
        status=200 if healthy else 503,
    )


async def livez(request: web.Request) -> web.Response:
    """200 while the process answers at all: for a liveness probe, which should restart a
    stuck process, not one whose broker or store is down (``/healthz`` says that)."""
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# On every response: the browser must not guess a type other than the one sent (a JSON
# error echoing input read as HTML, an upload read as script).
RESPONSE_HEADERS = {"X-Content-Type-Options": "nosniff"}
# On JSON responses (API answers carry case data): never cached, never framed or run.
JSON_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Added to every response just before it is sent (handlers' own, errors, 404s,
    static files); a header a handler set itself is kept."""
    for name, value in RESPONSE_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.content_type == "application/json":
        for name, value in JSON_HEADERS.items():
            response.headers.setdefault(name, value)


def make_app(
    *, registry: CollectorRegistry, health_checks: Mapping[str, HealthCheck]
) -> web.Application:
    """An aiohttp app with JSON errors, request metrics, security headers on every
    response, /healthz, /livez and /metrics."""
    counter = request_counter(registry)
    app = web.Application(middlewares=[metrics_middleware(counter), json_errors])
    app.on_response_prepare.append(security_headers)
    app[METRICS] = registry
    app[HEALTH_CHECKS] = health_checks
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/metrics", metrics)
    return app

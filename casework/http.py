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


async def read_json(request: web.Request, model: type[M]) -> M:
    """Parse and validate the JSON body; reject with field errors, changing nothing."""
    if request.content_type != "application/json":
        raise RequestRejected(
            415,
            "unsupported_media_type",
            [FieldError("Content-Type", "equals", "must be application/json")],
        )
    raw = await request.read()
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRejected(400, "invalid_json", [FieldError("body", "json", str(exc))]) from exc
    try:
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


def make_app(
    *, registry: CollectorRegistry, health_checks: Mapping[str, HealthCheck]
) -> web.Application:
    """An aiohttp app with JSON errors, request metrics, /healthz, /livez and /metrics."""
    counter = request_counter(registry)
    app = web.Application(middlewares=[metrics_middleware(counter), json_errors])
    app[METRICS] = registry
    app[HEALTH_CHECKS] = health_checks
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/metrics", metrics)
    return app

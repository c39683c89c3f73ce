"""Intake's JSON API: one POST per kind of submission, a status lookup, the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter

from casework.contract import Channel, SubmissionKind
from casework.errors import FieldError
from casework.http import RequestRejected, error_body
from services.intake.domain.progress import LifeCycle
from services.intake.entrypoints.openapi import openapi_document
from services.intake.usecases import RateLimited, Submissions

IDEMPOTENCY_HEADER = "Idempotency-Key"
REFERENCE_PATTERN = "R-[A-Z2-7]{12}"
# Neither a kind nor a reference: one path segment that is no fixed route's.
UNKNOWN_KIND = "(?!(?:" + "|".join(k.value for k in SubmissionKind) + ")$)(?!R-[A-Z2-7]{12}$)[^/]+"
KINDS = {kind.value: kind for kind in SubmissionKind}
TIMES = TypeAdapter(datetime)
Handler = Callable[[web.Request], Awaitable[web.Response]]


class IntakeRoutes:
    def __init__(self, submissions: Submissions, wiki_base: str) -> None:
        self.submissions = submissions
        self.wiki_base = wiki_base

    def register(self, app: web.Application) -> None:
        """One fixed path per kind (POST only), references by their own pattern (GET only),
        so no path answers (or advertises in Allow) another path's methods."""
        app.router.add_post("/api/v1/requests", self.submit_request)
        for kind in SubmissionKind:
            app.router.add_post(f"/api/v1/submissions/{kind.value}", self.submit_of(kind))
        app.router.add_get(f"/api/v1/submissions/{{reference:{REFERENCE_PATTERN}}}", self.status)
        # Any other name (not a kind, not a reference): no such kind, whatever the method.
        app.router.add_route("*", f"/api/v1/submissions/{{name:{UNKNOWN_KIND}}}", self.unknown_kind)
        app.router.add_get("/api/v1/openapi.json", self.openapi)

    async def submit_request(self, request: web.Request) -> web.Response:
        """The original route for requests, kept as an alias of /submissions/request."""
        return await self._submit(request, SubmissionKind.REQUEST)

    def submit_of(self, kind: SubmissionKind) -> Handler:
        async def submit(request: web.Request) -> web.Response:
            return await self._submit(request, kind)

        return submit

    async def unknown_kind(self, request: web.Request) -> web.Response:
        if request.method in ("GET", "HEAD"):
            error = FieldError("reference", "exists", "no such submission")
        else:
            error = FieldError("kind", "one_of", f"one of: {', '.join(KINDS)}")
        raise RequestRejected(404, "not_found", [error])

    async def _submit(self, request: web.Request, kind: SubmissionKind) -> web.Response:
        payload = await read_payload(request)
        try:
            accepted = await self.submissions.submit(
                kind,
                payload,
                channel=Channel.API,
                idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
                client=request.remote,
            )
        except RateLimited as exc:
            return too_many(exc)
        headers = {"Idempotent-Replayed": "true"} if accepted.replayed else {}
        return web.json_response(
            {"reference": accepted.reference, "status": "received"}, status=202, headers=headers
        )

    async def status(self, request: web.Request) -> web.Response:
        found = await self.submissions.status(request.match_info["reference"])
        if found is None:
            raise RequestRejected(
                404, "not_found", [FieldError("reference", "exists", "no such submission")]
            )
        return web.json_response(status_json(found))

    async def openapi(self, request: web.Request) -> web.Response:
        rules = self.submissions.rules
        return web.json_response(openapi_document(rules.policy, rules.intake, self.wiki_base))


async def read_payload(request: web.Request) -> Any:
    """The JSON body, or a 415/400 naming what is wrong with it."""
    if request.content_type != "application/json":
        raise RequestRejected(
            415,
            "unsupported_media_type",
            [FieldError("Content-Type", "equals", "must be application/json")],
        )
    raw = await request.read()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RequestRejected(400, "invalid_json", [FieldError("body", "json", str(exc))]) from exc


def _time(value: datetime) -> str:
    """As the contract's events write times (pydantic's JSON), so they read alike."""
    return TIMES.dump_python(value, mode="json")  # type: ignore[no-any-return]


def status_json(found: LifeCycle) -> dict[str, Any]:
    """The life cycle as the API answers it: stages and dates only."""
    return {
        "reference": found.reference,
        "kind": found.kind,
        "status": found.status,
        "received_at": _time(found.received_at),
        "history": [{"status": s.stage, "at": _time(s.at)} for s in found.history],
        "appeal_open_until": _time(found.appeal_open_until) if found.appeal_open_until else None,
    }


def too_many(exc: RateLimited) -> web.Response:
    body = error_body(
        "rate_limited",
        [FieldError(exc.scope, "rate_limit", str(exc))],
        "too many submissions; try again later",
    )
    return web.json_response(body, status=429, headers=retry_after_header(exc))


def retry_after_header(exc: RateLimited) -> dict[str, str]:
    return {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}

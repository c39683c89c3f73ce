"""Intake's HTTP entry points: the JSON API for requests."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from casework.contract import Channel, to_cloudevent, topic_of
from casework.errors import Kind, Rejected
from casework.http import read_json
from casework.outbox import OutboxRelay
from casework.policy import Policy
from casework.store import DocumentStore, DuplicateDocument, OutboxMessage
from services.intake.domain import (
    RequestForm,
    accept,
    fingerprint,
    new_submission_id,
    policy_errors,
)

SUBMISSIONS = "submissions"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class IntakeRoutes:
    def __init__(self, store: DocumentStore, relay: OutboxRelay, policy: Policy) -> None:
        self.store = store
        self.relay = relay
        self.policy = policy

    def register(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/requests", self.submit_request)

    async def submit_request(self, request: web.Request) -> web.Response:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not 1 <= len(key) <= 200:
            raise Rejected.one(
                Kind.INVALID,
                "validation_failed",
                IDEMPOTENCY_HEADER,
                "length",
                "must be 1 to 200 characters",
            )
        form = await read_json(request, RequestForm)
        errors = policy_errors(form, self.policy)
        if errors:
            raise Rejected(Kind.INVALID, "validation_failed", errors)
        submission_id = new_submission_id(key)
        document, event = accept(
            form,
            self.policy,
            submission_id=submission_id,
            channel=Channel.API,
            now=datetime.now(UTC),
        )
        try:
            await self.store.insert(
                SUBMISSIONS,
                document,
                outbox=[OutboxMessage(topic_of("intake"), to_cloudevent(event))],
            )
        except DuplicateDocument:
            return await self._replay(submission_id, form)
        self.relay.wake()
        return web.json_response({"reference": submission_id, "status": "received"}, status=202)

    async def _replay(self, submission_id: str, form: RequestForm) -> web.Response:
        existing = await self.store.get(SUBMISSIONS, submission_id)
        if existing is None or existing["fingerprint"] != fingerprint(form):
            raise Rejected.one(
                Kind.CONFLICT,
                "idempotency_key_reused",
                IDEMPOTENCY_HEADER,
                "same_body",
                "this key was already used for a different request",
            )
        return web.json_response(
            {"reference": submission_id, "status": "received"},
            status=202,
            headers={"Idempotent-Replayed": "true"},
        )

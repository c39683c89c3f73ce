"""Review's HTTP API for staff: the case queue, the case file, the decision and sign-offs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from casework.contract import EventData, to_cloudevent, topic_of
from casework.errors import Kind, Rejected
from casework.http import read_json
from casework.outbox import OutboxRelay
from casework.policy import Policy
from casework.store import Document, DocumentStore, OutboxMessage
from casework.updates import NotFound, update_document
from services.review.domain import (
    Case,
    CaseState,
    DecisionForm,
    SignOffForm,
    draft_decision,
    sign_off,
)
from services.review.handlers import CASES
from services.review.staff import StaffDirectory, StaffMember

QUEUE_LIMIT_MAX = 500


class ReviewRoutes:
    def __init__(
        self, store: DocumentStore, relay: OutboxRelay, policy: Policy, staff: StaffDirectory
    ) -> None:
        self.store = store
        self.relay = relay
        self.policy = policy
        self.staff = staff

    def register(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/cases", self.list_cases)
        app.router.add_get("/api/v1/cases/{case_id}", self.get_case)
        app.router.add_put("/api/v1/cases/{case_id}/decision", self.put_decision)
        app.router.add_post("/api/v1/cases/{case_id}/signoffs", self.post_signoff)

    def _staff(self, request: web.Request) -> StaffMember:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        member = self.staff.by_token(token.strip()) if scheme.lower() == "bearer" else None
        if member is None:
            raise Rejected.one(
                Kind.UNAUTHENTICATED,
                "unauthenticated",
                "Authorization",
                "bearer_token",
                "a valid staff bearer token is required",
            )
        return member

    async def list_cases(self, request: web.Request) -> web.Response:
        self._staff(request)
        where: dict[str, Any] = {}
        state = request.query.get("state")
        if state is not None:
            if state not in {s.value for s in CaseState}:
                raise Rejected.one(
                    Kind.INVALID,
                    "validation_failed",
                    "state",
                    "one_of",
                    f"one of: {', '.join(s.value for s in CaseState)}",
                )
            where["state"] = state
        action_type = request.query.get("action_type")
        if action_type is not None:
            if action_type not in self.policy.action_types:
                raise Rejected.one(
                    Kind.INVALID,
                    "validation_failed",
                    "action_type",
                    "one_of",
                    f"one of: {', '.join(sorted(self.policy.action_types))}",
                )
            where["action_type"] = action_type
        limit = _limit(request.query.get("limit", "100"))
        docs = await self.store.find(
            CASES, where, order_by="opened_at", descending=True, limit=limit
        )
        return web.json_response({"cases": [_summary(Case.from_document(d)) for d in docs]})

    async def get_case(self, request: web.Request) -> web.Response:
        self._staff(request)
        case = await self._load(request.match_info["case_id"])
        body = case.model_dump(mode="json")
        body["next_level"] = case.next_level(self.policy) if case.decision else None
        return web.json_response(body)

    async def put_decision(self, request: web.Request) -> web.Response:
        staff = self._staff(request)
        form = await read_json(request, DecisionForm)
        case_id = request.match_info["case_id"]

        def change(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            case = draft_decision(
                Case.from_document(doc), form, staff, self.policy, datetime.now(UTC)
            )
            return case.to_document(), []

        stored = await self._update(case_id, change)
        return web.json_response(Case.from_document(stored).model_dump(mode="json"))

    async def post_signoff(self, request: web.Request) -> web.Response:
        staff = self._staff(request)
        form = await read_json(request, SignOffForm)
        case_id = request.match_info["case_id"]

        def change(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            case, events = sign_off(
                Case.from_document(doc), form, staff, self.policy, datetime.now(UTC)
            )
            return case.to_document(), _outbox(events)

        stored = await self._update(case_id, change)
        self.relay.wake()
        case = Case.from_document(stored)
        return web.json_response(
            {
                "case_id": case.id,
                "state": case.state,
                "next_level": case.next_level(self.policy),
                "signoffs": [s.model_dump(mode="json") for s in case.signoffs],
            },
            status=201,
        )

    async def _load(self, case_id: str) -> Case:
        doc = await self.store.get(CASES, case_id)
        if doc is None:
            raise _not_found(case_id)
        return Case.from_document(doc)

    async def _update(self, case_id: str, change: Any) -> Document:
        try:
            return await update_document(self.store, CASES, case_id, change)
        except NotFound:
            raise _not_found(case_id) from None


def _outbox(events: list[EventData]) -> list[OutboxMessage]:
    return [OutboxMessage(topic_of("review"), to_cloudevent(e)) for e in events]


def _not_found(case_id: str) -> Rejected:
    return Rejected.one(Kind.NOT_FOUND, "not_found", "case_id", "exists", f"no case {case_id!r}")


def _limit(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= QUEUE_LIMIT_MAX:
        raise Rejected.one(
            Kind.INVALID,
            "validation_failed",
            "limit",
            "range",
            f"an integer from 1 to {QUEUE_LIMIT_MAX}",
        )
    return int(raw)


def _summary(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "state": case.state,
        "action_type": case.action_type,
        "routed_to": case.routed_to,
        "subject": case.submission.subject.account if case.submission.subject else None,
        "opened_at": case.opened_at.isoformat(),
        "deadline_at": case.deadline_at.isoformat() if case.deadline_at else None,
    }

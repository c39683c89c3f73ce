"""Review's JSON API for staff: a thin HTTP adapter over the use cases, described by OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from casework.http import RequestRejected, field_errors, read_json
from services.review.auth.middleware import current_identity, current_staff
from services.review.domain import casefile, inquiries, retry
from services.review.domain.case import Case, CaseState, CaseView
from services.review.domain.decision import DecisionForm, DeterminationForm
from services.review.domain.opening import MergeForm, StaffCaseForm
from services.review.domain.queue import QueuePage, QueueQuery
from services.review.domain.reversal import ReversalForm
from services.review.domain.signoff import SignOffForm
from services.review.domain.staff import StaffMember
from services.review.domain.stepup import TOKEN
from services.review.entrypoints.openapi import OPERATIONS, Operation, openapi_document
from services.review.usecases import ReviewCases

CASE = "/api/v1/cases/{case_id}"


# The API's operations: what register serves and openapi.json describes.
OPERATIONS_SERVED: list[Operation] = [
    ("get", "/api/v1/cases", "The queue, filtered, by urgency", None, QueuePage, 200),
    (
        "post",
        "/api/v1/cases",
        "Open a case on staff initiative",
        StaffCaseForm,
        CaseView,
        201,
    ),
    ("get", CASE, "The case file", None, CaseView, 200),
    ("put", CASE + "/assignee", "Assign or unassign", casefile.AssignForm, CaseView, 200),
    (
        "post",
        CASE + "/notes",
        "Add an investigation note",
        casefile.NoteForm,
        CaseView,
        201,
    ),
    (
        "post",
        CASE + "/evidence",
        "Add an evidence item",
        casefile.EvidenceForm,
        CaseView,
        201,
    ),
    ("post", CASE + "/links", "Link another case", casefile.LinkForm, CaseView, 201),
    (
        "post",
        CASE + "/merge",
        "Close as a duplicate of another case",
        MergeForm,
        CaseView,
        201,
    ),
    (
        "put",
        CASE + "/waiting",
        "Wait for the requester",
        casefile.WaitingForm,
        CaseView,
        200,
    ),
    (
        "put",
        CASE + "/decision",
        "Draft or change the decision",
        DecisionForm,
        CaseView,
        200,
    ),
    (
        "put",
        CASE + "/determination",
        "Record counsel's determination",
        DeterminationForm,
        Case,
        200,
    ),
    ("post", CASE + "/signoffs", "Sign a level", SignOffForm, CaseView, 201),
    (
        "post",
        CASE + "/reversal",
        "Approve reversing the decision: 201 once reversed, 202 while the policy "
        "needs more approvers (pending_reversal says who approved and how many)",
        ReversalForm,
        CaseView,
        201,
    ),
    ("delete", CASE + "/reversal", "Withdraw a pending reversal", None, CaseView, 200),
    (
        "post",
        CASE + "/inquiry-answers",
        "Answer an inquiry (its answers held back from the public portal only with grounds)",
        inquiries.InquiryForm,
        Case,
        201,
    ),
    (
        "post",
        CASE + "/restorations",
        "Order a restoration after tampering",
        casefile.RestorationForm,
        Case,
        201,
    ),
    (
        "post",
        CASE + "/retries",
        "Order an operation that failed for good to be tried again",
        retry.RetryForm,
        Case,
        201,
    ),
]


class ReviewRoutes:
    def __init__(self, cases: ReviewCases) -> None:
        self.cases = cases
        self.operations: list[Operation] = list(OPERATIONS_SERVED)
        self._openapi: dict[str, Any] | None = None

    def register(self, app: web.Application) -> None:
        app[OPERATIONS] = list(self.operations)
        app.router.add_get("/api/v1/openapi.json", self.openapi)
        app.router.add_get("/api/v1/cases", self.list_cases)
        app.router.add_post("/api/v1/cases", self.open_case)
        app.router.add_get(CASE, self.get_case)
        c = self.cases
        writes: list[tuple[str, str, type[BaseModel], Callable[..., Awaitable[Case]], int]] = [
            ("PUT", "/assignee", casefile.AssignForm, c.assign, 200),
            ("POST", "/notes", casefile.NoteForm, c.add_note, 201),
            ("POST", "/evidence", casefile.EvidenceForm, c.add_evidence, 201),
            ("POST", "/links", casefile.LinkForm, c.link, 201),
            ("POST", "/merge", MergeForm, c.merge, 201),
            ("PUT", "/waiting", casefile.WaitingForm, c.set_waiting, 200),
            ("PUT", "/decision", DecisionForm, c.draft_decision, 200),
            ("PUT", "/determination", DeterminationForm, c.record_determination, 200),
            ("POST", "/inquiry-answers", inquiries.InquiryForm, c.answer_inquiry, 201),
            ("POST", "/restorations", casefile.RestorationForm, c.order_restoration, 201),
            ("POST", "/retries", retry.RetryForm, c.order_retry, 201),
        ]
        for method, suffix, form, use_case, status in writes:
            app.router.add_route(method, CASE + suffix, self._write(form, use_case, status))
        app.router.add_post(CASE + "/signoffs", self.sign_off)
        app.router.add_post(CASE + "/reversal", self.reverse)
        app.router.add_delete(CASE + "/reversal", self.withdraw_reversal)

    def staff_of(self, request: web.Request) -> StaffMember:
        """Who the access middleware identified (token or session)."""
        return current_staff(request)

    async def openapi(self, request: web.Request) -> web.Response:
        # Built at the first request: by then every part has added its operations.
        if self._openapi is None:
            self._openapi = openapi_document(request.app[OPERATIONS])
        return web.json_response(self._openapi)

    async def list_cases(self, request: web.Request) -> web.Response:
        staff = self.staff_of(request)
        try:
            query = QueueQuery.model_validate(dict(request.query))
        except ValidationError as exc:
            raise RequestRejected(422, "validation_failed", field_errors(exc)) from exc
        page = await self.cases.queue(staff, query)
        return web.json_response(page.model_dump(mode="json"))

    async def open_case(self, request: web.Request) -> web.Response:
        staff = self.staff_of(request)
        form = await read_json(request, StaffCaseForm, strict=True)
        case = await self.cases.open_by_staff(staff, form)
        return web.json_response(
            self.cases.view(staff, case).model_dump(mode="json", by_alias=True), status=201
        )

    async def get_case(self, request: web.Request) -> web.Response:
        staff = self.staff_of(request)
        case = await self.cases.read(staff, request.match_info["case_id"])
        return web.json_response(
            self.cases.view(staff, case).model_dump(mode="json", by_alias=True)
        )

    async def sign_off(self, request: web.Request) -> web.Response:
        """Sign a level as the caller authenticated: a bearer token is never a fresh,
        strong sign-in, so a level that needs a step-up is refused (403, `authentication`)."""
        identity = current_identity(request)
        body = await read_json(request, SignOffForm, strict=True)
        session = identity.session
        how = session.authentication if session is not None else TOKEN
        case = await self.cases.sign_off(identity.staff, request.match_info["case_id"], body, how)
        return web.json_response(
            self.cases.view(identity.staff, case).model_dump(mode="json", by_alias=True),
            status=201,
        )

    async def reverse(self, request: web.Request) -> web.Response:
        """One approval of a reversal: 202 while it is pending, 201 once it took effect."""
        staff = self.staff_of(request)
        body = await read_json(request, ReversalForm, strict=True)
        case = await self.cases.reverse(staff, request.match_info["case_id"], body)
        status = 201 if case.state is CaseState.REVERSED else 202
        return web.json_response(
            self.cases.view(staff, case).model_dump(mode="json", by_alias=True), status=status
        )

    async def withdraw_reversal(self, request: web.Request) -> web.Response:
        staff = self.staff_of(request)
        case = await self.cases.withdraw_reversal(staff, request.match_info["case_id"])
        return web.json_response(
            self.cases.view(staff, case).model_dump(mode="json", by_alias=True)
        )

    def _write(
        self, form: type[BaseModel], use_case: Callable[..., Awaitable[Case]], status: int
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            staff = self.staff_of(request)
            body = await read_json(request, form, strict=True)
            case = await use_case(staff, request.match_info["case_id"], body)
            return web.json_response(
                self.cases.view(staff, case).model_dump(mode="json", by_alias=True), status=status
            )

        return handler

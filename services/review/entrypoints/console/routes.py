"""The console's queue and case pages, and the forms on them. Every change goes through a
review use case; the page shows a form only to staff whose role allows its action."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ValidationError

from casework.contract import Audience, EvidenceLocation, Question, SubmissionKind
from casework.errors import FieldError, Rejected
from casework.http import STATUS_OF_KIND, field_errors
from casework.policy import Policy
from casework.policy.access import AccessRules
from services.review.auth.directory import LiveStaff
from services.review.auth.middleware import current_identity
from services.review.auth.pending import SignOffDrafts
from services.review.auth.policy import can
from services.review.domain.case import FINAL_STATES, Case, CaseState, LinkKind
from services.review.domain.casefile import (
    AssignForm,
    EvidenceForm,
    LinkForm,
    NoteForm,
    RestorationForm,
    WaitingForm,
)
from services.review.domain.decision import DecisionForm, DeterminationForm
from services.review.domain.inquiries import InquiryForm
from services.review.domain.opening import MergeForm
from services.review.domain.permissions import Action
from services.review.domain.queue import FILTER_FIELDS, QueueQuery
from services.review.domain.retry import RetryForm
from services.review.domain.reversal import REVERSIBLE_STATES, ReversalForm, may_approve_reversal
from services.review.domain.signoff import SIGNING_STATES, SignOffForm
from services.review.domain.staff import StaffMember
from services.review.domain.stepup import TOKEN, step_up_shortfall
from services.review.entrypoints.console import forms
from services.review.entrypoints.console.policy_words import PolicyWords
from services.review.entrypoints.console.render import HERE, render
from services.review.usecases import ReviewCases

PAGE = "/console/cases/{case_id}"
# Who a disclosure can name: staff and counsel see what they see by role, not by plan.
DISCLOSABLE = (Audience.PUBLIC, Audience.AFFECTED_USER, Audience.REQUESTER, Audience.FUNCTIONARIES)
# Links staff make by hand; the others are made when a case is opened or merged.
MANUAL_LINKS = (LinkKind.APPEAL_OF, LinkKind.BREACH_OF, LinkKind.DUPLICATE_OF, LinkKind.RELATED)
UseCase = Callable[[StaffMember, str, Any], Awaitable[Case]]


class NoFields(BaseModel):
    """A form that is only a button (and its CSRF token)."""


class ConsoleRoutes:
    def __init__(
        self,
        cases: ReviewCases,
        policy: Policy,
        rules: AccessRules,
        staff: LiveStaff,
        drafts: SignOffDrafts | None = None,
    ) -> None:
        self.cases = cases
        self.policy = policy
        self.words = PolicyWords(policy)  # its words in the page's language
        self.rules = rules
        self.staff = staff
        # Sign-offs typed before a step-up, kept server-side per session (None: no
        # identity provider, so no step-up).
        self.drafts = drafts

    def register(self, app: web.Application) -> None:
        app.router.add_static("/console/static", HERE / "static")
        app.router.add_get("/console", self.queue)
        app.router.add_get(PAGE, self.case_page)
        posts: list[tuple[str, type[BaseModel], Callable[[forms.Form], dict[str, Any]], Any]] = [
            ("/decision", DecisionForm, forms.decision_fields, self.cases.draft_decision),
            ("/signoffs", SignOffForm, forms.signoff_fields, self.cases.sign_off),
            (
                "/determination",
                DeterminationForm,
                forms.determination_fields,
                self.cases.record_determination,
            ),
            ("/notes", NoteForm, lambda f: {"text": f.get("text", "")}, self.cases.add_note),
            ("/assignee", AssignForm, forms.assign_fields, self.cases.assign),
            ("/evidence", EvidenceForm, forms.evidence_fields, self.cases.add_evidence),
            ("/links", LinkForm, forms.link_fields, self.cases.link),
            ("/merge", MergeForm, forms.merge_fields, self.cases.merge),
            ("/waiting", WaitingForm, forms.waiting_fields, self.cases.set_waiting),
            ("/reversal", ReversalForm, forms.reversal_fields, self.cases.reverse),
            (
                "/reversal/withdraw",
                NoFields,
                lambda f: {},
                lambda staff, case_id, _: self.cases.withdraw_reversal(staff, case_id),
            ),
            ("/inquiry-answers", InquiryForm, forms.inquiry_fields, self.cases.answer_inquiry),
            (
                "/restorations",
                RestorationForm,
                lambda f: {"tampering_id": f.get("tampering_id", "")},
                self.cases.order_restoration,
            ),
            (
                "/retries",
                RetryForm,
                lambda f: {k: f.get(k, "") for k in ("wiki", "kind", "target", "reason")},
                self.cases.order_retry,
            ),
        ]
        for suffix, model, parse, use_case in posts:
            app.router.add_post(PAGE + suffix, self._post(suffix[1:], model, parse, use_case))

    # -- the queue ---------------------------------------------------------------------

    async def queue(self, request: web.Request) -> web.Response:
        identity = current_identity(request)
        raw = {k: v for k, v in request.query.items() if v and k != "lang"}
        deadline = raw.pop("deadline", "")
        now = datetime.now(UTC)
        problems: list[FieldError] = []
        try:
            query = QueueQuery.model_validate(raw)
            page = await self.cases.queue(identity.staff, query)
            rows = page.cases
            next_cursor = page.next_cursor
        except ValidationError as exc:
            problems, rows, next_cursor = field_errors(exc), [], None
        except Rejected as exc:
            problems, rows, next_cursor = exc.errors, [], None
        marked = [(row, urgency(row.at_risk_at, row.deadline_at, now)) for row in rows]
        if deadline in ("at-risk", "breached"):
            wanted = {"breached"} if deadline == "breached" else {"at-risk", "breached"}
            marked = [(row, mark) for row, mark in marked if mark in wanted]
        next_url = None
        if next_cursor:
            next_url = "/console?" + urlencode({**raw, "deadline": deadline, "cursor": next_cursor})
        return render(
            request,
            "queue.html",
            status=422 if problems else 200,
            me=identity.staff,
            csrf=identity.session.csrf_token if identity.session else "",
            rows=marked,
            filters={**{f: raw.get(f, "") for f in FILTER_FIELDS}, "deadline": deadline},
            states=[s.value for s in CaseState],
            action_types=sorted(self.policy.action_types),
            words=self.words,
            staff_ids=[m.id for m in self.staff.current().staff],
            staff_admin=can(identity.staff, Action.MANAGE_STAFF, rules=self.rules),
            problems=problems,
            next_url=next_url,
        )

    # -- the case page -----------------------------------------------------------------

    async def case_page(self, request: web.Request) -> web.Response:
        return await self._case_page(request, request.match_info["case_id"])

    async def _case_page(
        self,
        request: web.Request,
        case_id: str,
        status: int = 200,
        problems: list[FieldError] | None = None,
        submitted: dict[str, Any] | None = None,
        submitted_choices: dict[str, list[str]] | None = None,
        sent_form: str = "",
    ) -> web.Response:
        identity = current_identity(request)
        staff = identity.staff
        case = await self.cases.read(staff, case_id)
        notice = ""
        if not sent_form and self.drafts is not None and identity.session is not None:
            draft = await self.drafts.find(identity.session.id, case_id, datetime.now(UTC))
            if draft is not None:  # back from a step-up: the form as it was typed
                submitted, sent_form, notice = draft, "signoffs", "case.step_up_kept"
        view = self.cases.view(staff, case)
        may = {a.name.lower(): can(staff, a, case, self.rules) for a in Action}
        outstanding = case.outstanding_levels() if case.decision else []
        return render(
            request,
            "case.html",
            status=status,
            me=staff,
            csrf=identity.session.csrf_token if identity.session else "",
            case=case,
            view=view,
            urgency=urgency(
                case.deadline.at_risk_at if case.deadline else None,
                case.deadline_at,
                datetime.now(UTC),
            ),
            **self._forms_shown(staff, case, may),
            staff_members=[(m.id, m.name) for m in self.staff.current().staff],
            locations=[w.value for w in EvidenceLocation],
            audiences=[a.value for a in DISCLOSABLE],
            questions=[q.value for q in Question],
            link_kinds=[k.value for k in MANUAL_LINKS],
            submitted_choices=submitted_choices or {},
            sent_form=sent_form,
            show_restore=may["order_restoration"],
            read_only=not any(v for k, v in may.items() if not k.startswith("read_")),
            outstanding=outstanding,
            my_levels=[lvl for lvl in staff.levels if lvl in outstanding],
            clauses=self.policy.clauses,
            action_types=self.policy.action_types,
            words=self.words,
            problems=problems or [],
            submitted=submitted or {},
            published=case.state is CaseState.APPROVED,
            notice_key=notice,
        )

    def _forms_shown(self, staff: StaffMember, case: Case, may: dict[str, bool]) -> dict[str, Any]:
        """Which of the case page's forms this staff member gets, given what they may do."""
        is_open = case.state not in FINAL_STATES
        signing = case.state in SIGNING_STATES and case.decision is not None
        return dict(
            show_decision_form=may["draft_decision"] and is_open,
            show_signoff_form=may["sign_off"] and signing,
            show_determination_form=may["record_determination"]
            and is_open
            and case.decision is not None,
            show_note_form=may["add_note"],
            show_assign_form=may["assign_case"] and is_open,
            show_evidence_form=may["add_evidence"],
            show_link_form=may["link_cases"],
            show_merge_form=may["merge_duplicate"] and is_open,
            show_waiting_form=may["set_waiting"] and is_open,
            show_reversal_form=may["reverse_decision"]
            and may_approve_reversal(case, staff, self.policy),
            show_withdraw_reversal=may["reverse_decision"]
            and case.state in REVERSIBLE_STATES
            and bool(set(staff.levels) & set(self.policy.review.reversal_levels)),
            reversal_needed=self.policy.review.reversal_approvals_needed(len(case.chain)),
            show_inquiry_form=may["answer_inquiry"]
            and is_open
            and case.kind is SubmissionKind.INQUIRY,
        )

    def _post(
        self,
        name: str,
        model: type[BaseModel],
        parse: Callable[[forms.Form], dict[str, Any]],
        use_case: UseCase,
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            staff = current_identity(request).staff
            case_id = request.match_info["case_id"]
            raw = await request.post()
            submitted = {k: v for k, v in raw.items() if k != "csrf_token"}
            ticked = {k: [str(v) for v in raw.getall(k)] for k in raw}
            try:
                body = model.model_validate(parse(raw))
                if isinstance(body, SignOffForm):
                    await self._sign_off(request, case_id, body, submitted)
                else:
                    await use_case(staff, case_id, body)
            except ValidationError as exc:
                problems = field_errors(exc)
                return await self._case_page(
                    request, case_id, 422, problems, submitted, ticked, name
                )
            except Rejected as exc:
                status = STATUS_OF_KIND[exc.kind]
                if status in (401, 404):
                    raise
                return await self._case_page(
                    request, case_id, status, exc.errors, submitted, ticked, name
                )
            raise web.HTTPSeeOther(PAGE.format(case_id=case_id))

        return handler

    async def _sign_off(
        self, request: web.Request, case_id: str, form: SignOffForm, typed: dict[str, Any]
    ) -> None:
        """Sign, as the session signed in; a level the policy wants a fresh, strong sign-in
        for, without one, sends the person to the identity provider first (the form kept)."""
        identity = current_identity(request)
        session = identity.session
        how = session.authentication if session is not None else TOKEN
        now = datetime.now(UTC)
        rule = self.cases.step_up.get(form.level)
        if self.drafts is not None and session is not None:
            if step_up_shortfall(rule, how, now) is not None:
                await self.drafts.keep(session.id, case_id, typed, now)
                page = PAGE.format(case_id=case_id)
                query = urlencode({"level": form.level, "next": page})
                raise web.HTTPSeeOther(f"/console/oidc/step-up?{query}")
        await self.cases.sign_off(identity.staff, case_id, form, how)
        if self.drafts is not None and session is not None:
            await self.drafts.drop(session.id)


def urgency(at_risk_at: datetime | None, due_at: datetime | None, now: datetime) -> str:
    """ "breached" past the due time, "at-risk" past the at-risk point; paused clocks
    have their due time moved on resume, so they show as they stand."""
    if due_at is None:
        return ""
    if now >= due_at:
        return "breached"
    if at_risk_at is not None and now >= at_risk_at:
        return "at-risk"
    return ""

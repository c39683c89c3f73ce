"""The web form: one page per kind of submission, and the requester's tracking page;
server-rendered, usable without JavaScript."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from casework.contract import Channel, SubmissionKind
from casework.errors import FieldError, Rejected
from services.intake.domain.forms import CASE_REF_PATTERN
from services.intake.entrypoints.http import retry_after_header
from services.intake.entrypoints.web.csrf import COOKIE, FIELD, CsrfTokens
from services.intake.entrypoints.web.fields import Field, fields_of, place_errors, to_payload
from services.intake.entrypoints.web.render import page_language, render
from services.intake.usecases import RateLimited, Submissions

KINDS = {kind.value: kind for kind in SubmissionKind}
KEY_FIELD = "submission_key"
STATIC = Path(__file__).resolve().parent / "static"
MAX_FORM_BYTES = 256 * 1024


def shown(moment: datetime) -> str:
    """A time as both languages can read it, in UTC to the minute."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _prefilled(request: web.Request, kind: SubmissionKind) -> dict[str, str]:
    """The case a link names (`?refers_to=OA-…`, as the public portal links to the inquiry
    form), on a form that asks for one; anything not shaped like a case id is ignored."""
    given = request.query.get("refers_to", "")
    has_field = any(f.name == "refers_to" for f in fields_of(kind, ()))
    if has_field and re.fullmatch(CASE_REF_PATTERN, given):
        return {"refers_to": given}
    return {}


class FormPages:
    def __init__(self, submissions: Submissions, csrf: CsrfTokens) -> None:
        self.submissions = submissions
        self.csrf = csrf

    def register(self, app: web.Application) -> None:
        app.router.add_get("/", self.home)
        app.router.add_get("/submit", self.index)
        app.router.add_get("/submit/received/{reference}", self.received)
        app.router.add_get("/submit/{kind}", self.show)
        app.router.add_get("/submissions/{reference}", self.tracking)
        app.router.add_post("/submit/{kind}", self.post)
        app.router.add_static("/static/intake", STATIC)

    async def home(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/submit")

    async def index(self, request: web.Request) -> web.Response:
        return render(request, "index.html", kinds=list(KINDS))

    def _fields(self, kind: SubmissionKind) -> list[Field]:
        return fields_of(kind, sorted(self.submissions.rules.policy.action_types))

    async def show(self, request: web.Request) -> web.Response:
        kind = KINDS.get(request.match_info["kind"])
        if kind is None:
            return render(request, "not_found.html", status=404)
        token = request.cookies.get(COOKIE) or ""
        if not self.csrf.valid(token):
            token = self.csrf.new()
        values = {"requester.language": page_language(request), **_prefilled(request, kind)}
        response = self._form(request, kind, values, {}, [], token, status=200)
        return response

    async def post(self, request: web.Request) -> web.Response:
        kind = KINDS.get(request.match_info["kind"])
        if kind is None:
            return render(request, "not_found.html", status=404)
        if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
            return render(request, "refused.html", status=413, reason="too_large")
        try:
            form = await request.post()
        except (ValueError, UnicodeDecodeError):
            return render(request, "refused.html", status=400, reason="unreadable")
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        cookie = request.cookies.get(COOKIE)
        if not self.csrf.accepts(cookie, values.get(FIELD)):
            return render(request, "refused.html", status=403, reason="csrf")
        assert cookie is not None
        fields = self._fields(kind)
        posted = to_payload(kind, fields, values)
        key = values.get(KEY_FIELD, "")
        try:
            accepted = await self.submissions.submit(
                kind,
                posted.payload,
                channel=Channel.FORM,
                idempotency_key=f"form:{key}" if key else None,
                client=request.remote,
            )
        except Rejected as exc:
            by_field, general = place_errors(exc.errors, fields, posted)
            status = 409 if exc.code == "idempotency_key_reused" else 422
            return self._form(request, kind, values, by_field, general, cookie, status=status)
        except RateLimited as exc:
            return render(
                request,
                "refused.html",
                status=429,
                headers=retry_after_header(exc),
                reason="rate_limited",
            )
        raise web.HTTPSeeOther(f"/submit/received/{accepted.reference}")

    async def received(self, request: web.Request) -> web.Response:
        status = await self.submissions.status(request.match_info["reference"])
        if status is None:
            return render(request, "not_found.html", status=404)
        return render(request, "received.html", reference=status.reference, kind=status.kind)

    async def tracking(self, request: web.Request) -> web.Response:
        """The requester's page: where their submission's case stands, in words."""
        found = await self.submissions.status(request.match_info["reference"])
        if found is None:
            return render(request, "not_found.html", status=404)
        until = found.appeal_open_until
        return render(
            request,
            "tracking.html",
            reference=found.reference,
            kind=found.kind,
            stage=found.status,
            history=[
                {"stage": s.stage, "iso": s.at.isoformat(), "shown": shown(s.at)}
                for s in found.history
            ],
            appeal_open_until=shown(until) if until else None,
        )

    def _form(
        self,
        request: web.Request,
        kind: SubmissionKind,
        values: dict[str, str],
        errors: dict[str, list[FieldError]],
        general: list[FieldError],
        token: str,
        status: int,
    ) -> web.Response:
        response = render(
            request,
            "form.html",
            status=status,
            kind=kind.value,
            fields=self._fields(kind),
            values=values,
            errors=errors,
            general=general,
            csrf_field=FIELD,
            csrf_token=token,
            key_field=KEY_FIELD,
            submission_key=values.get(KEY_FIELD) or secrets.token_urlsafe(16),
            action_titles={
                k: a.title for k, a in self.submissions.rules.policy.action_types.items()
            },
        )
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/submit")
        return response

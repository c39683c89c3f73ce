"""Inquiries: each question answered or refused with grounds, on the record. Pure.

The answers always reach the asker by e-mail. Staff may keep them off the public portal
(`held_back`), but only with grounds, which are recorded and published in their place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from casework.contract import EventData, InquiryAnswer, InquiryAnswered, SubmissionKind
from casework.errors import FieldError, Kind, Rejected
from casework.text import NO_CONTROL
from services.review.domain.case import Case, CaseState, InquiryResponse, LinkKind
from services.review.domain.deadlines import Calendar, due_by
from services.review.domain.staff import StaffMember

HELD_BACK_GROUNDS_MAX = 2000


class AnswerInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["answered", "refused"]
    text: Annotated[str, Field(min_length=1, max_length=20_000), NO_CONTROL] = Field(
        description="The answer, or the grounds of the refusal."
    )


class InquiryForm(BaseModel):
    """One answer per question, in the order the inquiry asked them."""

    model_config = ConfigDict(extra="forbid")

    answers: list[AnswerInput] = Field(min_length=1)
    held_back: StrictBool = Field(
        default=False,
        description="Keep the answers off the public portal. They are still e-mailed to "
        "the asker; the portal shows that an inquiry was received and these grounds.",
    )
    held_back_grounds: (
        Annotated[str, Field(max_length=HELD_BACK_GROUNDS_MAX), NO_CONTROL] | None
    ) = Field(
        default=None,
        description="Why the answers are not public: required (not blank) when held_back, "
        "refused otherwise.",
    )


def _problems(case: Case, form: InquiryForm) -> list[FieldError]:
    """Every rule of the form that needs the case, or the form as a whole, named by field."""
    if len(form.answers) != len(case.questions):
        return [
            FieldError(
                "answers",
                "one_per_question",
                f"give exactly {len(case.questions)} answers, one per question, in order",
            )
        ]
    found = [
        FieldError(f"answers.{i}.text", "not_blank", "must not be blank")
        for i, a in enumerate(form.answers)
        if not a.text.strip()
    ]
    grounds = (form.held_back_grounds or "").strip()
    if form.held_back and not grounds:
        found.append(
            FieldError(
                "held_back_grounds",
                "required_when_held_back",
                "holding the answers back from publication needs its grounds",
            )
        )
    if grounds and not form.held_back:
        found.append(
            FieldError(
                "held_back_grounds",
                "only_when_held_back",
                "grounds are given only when the answers are held back (held_back: true)",
            )
        )
    return found


def answer_inquiry(
    case: Case, form: InquiryForm, staff: StaffMember, now: datetime, *, calendar: Calendar
) -> tuple[Case, list[EventData]]:
    """Record the answers (and a hold-back with its grounds) and announce them, with when
    the inquiry was asked and its real due date (``calendar``: its deadline's, for pauses)."""
    if case.kind is not SubmissionKind.INQUIRY:
        raise Rejected.one(
            Kind.CONFLICT, "not_an_inquiry", "kind", "inquiry", f"{case.id} is a {case.kind}"
        )
    case.check_open()
    submission = case.submission
    if submission is None or submission.requester is None:
        raise Rejected.one(
            Kind.CONFLICT, "no_requester", "requester", "present", "nobody to answer"
        )
    problems = _problems(case, form)
    if problems:
        raise Rejected(Kind.INVALID, "validation_failed", problems)
    responses = [
        InquiryResponse(question=q, outcome=a.outcome, text=a.text)
        for q, a in zip(case.questions, form.answers, strict=True)
    ]
    grounds = form.held_back_grounds if form.held_back else None
    answered = _recorded(case, responses, grounds, staff, now)
    return answered, [
        InquiryAnswered(
            case_id=case.id,
            about_case_id=case.linked(LinkKind.INQUIRY_ABOUT),
            answers=[
                InquiryAnswer(question=r.question, outcome=r.outcome, text=r.text)
                for r in responses
            ],
            requester=submission.requester,
            answered_by=staff.id,
            answered_at=now,
            asked_at=submission.received_at,
            deadline_at=due_by(case.deadline, now, calendar) if case.deadline else None,
            held_back=form.held_back,
            held_back_grounds=grounds,
        )
    ]


def _recorded(
    case: Case,
    responses: list[InquiryResponse],
    grounds: str | None,
    staff: StaffMember,
    now: datetime,
) -> Case:
    answered = case.model_copy(
        update={
            "inquiry_answers": responses,
            "state": CaseState.ANSWERED,
            "answers_held_back": grounds is not None,
            "held_back_grounds": grounds,
        }
    ).with_entry(
        now,
        staff.id,
        "inquiry-answered",
        "; ".join(f"{i + 1}: {r.outcome}" for i, r in enumerate(responses)),
    )
    if grounds is None:
        return answered
    return answered.with_entry(now, staff.id, "answers-held-back", grounds)

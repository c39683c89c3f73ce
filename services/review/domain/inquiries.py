"""Inquiries: each question answered or refused with grounds, on the record. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from casework.contract import EventData, InquiryAnswer, InquiryAnswered, SubmissionKind
from casework.errors import FieldError, Kind, Rejected
from casework.text import NO_CONTROL
from services.review.domain.case import Case, CaseState, InquiryResponse, LinkKind
from services.review.domain.staff import StaffMember


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


def answer_inquiry(
    case: Case, form: InquiryForm, staff: StaffMember, now: datetime
) -> tuple[Case, list[EventData]]:
    if case.kind is not SubmissionKind.INQUIRY:
        raise Rejected.one(
            Kind.CONFLICT, "not_an_inquiry", "kind", "inquiry", f"{case.id} is a {case.kind}"
        )
    case.check_open()
    requester = case.submission.requester if case.submission else None
    if requester is None:
        raise Rejected.one(
            Kind.CONFLICT, "no_requester", "requester", "present", "nobody to answer"
        )
    if len(form.answers) != len(case.questions):
        raise Rejected.one(
            Kind.INVALID,
            "validation_failed",
            "answers",
            "one_per_question",
            f"give exactly {len(case.questions)} answers, one per question, in order",
        )
    blank = [
        FieldError(f"answers.{i}.text", "not_blank", "must not be blank")
        for i, a in enumerate(form.answers)
        if not a.text.strip()
    ]
    if blank:
        raise Rejected(Kind.INVALID, "validation_failed", blank)
    responses = [
        InquiryResponse(question=q, outcome=a.outcome, text=a.text)
        for q, a in zip(case.questions, form.answers, strict=True)
    ]
    answered = case.model_copy(
        update={"inquiry_answers": responses, "state": CaseState.ANSWERED}
    ).with_entry(
        now,
        staff.id,
        "inquiry-answered",
        "; ".join(f"{i + 1}: {r.outcome}" for i, r in enumerate(responses)),
    )
    return answered, [
        InquiryAnswered(
            case_id=case.id,
            about_case_id=case.linked(LinkKind.INQUIRY_ABOUT),
            answers=[
                InquiryAnswer(question=r.question, outcome=r.outcome, text=r.text)
                for r in responses
            ],
            requester=requester,
            answered_by=staff.id,
            answered_at=now,
        )
    ]

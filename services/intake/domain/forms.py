"""What each kind of submission must look like, as the API, the web form and mail give it.

Strict shapes (a misspelt field is an error, not silently dropped); the rules that come
from the policy file are in rules.py. Each form knows the event fields it contributes.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from casework.contract import (
    BreachKind,
    EvidenceItem,
    Subject,
    SubmissionKind,
)
from casework.contract.common import Account, Email, Language
from casework.contract.common import Url as UrlShape
from casework.contract.intake import BannedEventRef, DmcaNotice
from services.intake.domain.accounts import account_problem, skeleton
from services.intake.domain.addresses import AddressError, normalised
from services.intake.domain.urls import url_problem

# Free text: any printable text, line breaks and tabs; no other control characters.
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
TEXT_MAX = 20000
Text = Annotated[str, Field(min_length=1, max_length=TEXT_MAX, pattern=TEXT_PATTERN)]
ShortText = Annotated[str, Field(min_length=1, max_length=200, pattern=TEXT_PATTERN)]
Question = Annotated[str, Field(min_length=1, max_length=2000, pattern=TEXT_PATTERN)]
ActionName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]
# A reference (R-…) or the case id review derived from it (OA-…).
CASE_REF_PATTERN = r"^[A-Z]{1,4}-[A-Z2-7]{12}$"
CaseRef = Annotated[str, Field(pattern=CASE_REF_PATTERN)]


def _url(value: str) -> str:
    problem = url_problem(value)
    if problem is not None:
        raise PydanticCustomError("url", problem)
    return value


def _email(value: str) -> str:
    try:
        return normalised(value)
    except AddressError as exc:
        raise PydanticCustomError(
            "email", "not an address mail can be sent to: {reason}", {"reason": str(exc)}
        ) from None


def _account(value: str) -> str:
    problem = account_problem(value)
    if problem is not None:
        raise PydanticCustomError("account_name", problem)
    return value


# A link read the same by browsers and by intake (domain/urls.py).
Url = Annotated[UrlShape, AfterValidator(_url)]
# An address mail can be sent to (email-validator), kept normalised.
MailAddress = Annotated[Email, AfterValidator(_email)]
# A user name MediaWiki would accept (domain/accounts.py).
AccountName = Annotated[Account, AfterValidator(_account)]
StaffName = Annotated[
    str,
    Field(min_length=1, max_length=255, pattern=r"^[^#<>\[\]|{}\x00-\x1f\x7f]+$"),
    AfterValidator(_account),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubjectInput(Subject):
    model_config = ConfigDict(extra="forbid", frozen=True)
    account: AccountName


class EvidenceInput(EvidenceItem):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: Url
    description: Annotated[str, Field(min_length=1, max_length=2000, pattern=TEXT_PATTERN)]


class RequesterInput(_Input):
    """Who sends it. Its own model, not the contract's Requester: a field the contract gains
    (named_publicly) is offered only where it belongs (an inquiry), never to every kind."""

    name: ShortText
    email: MailAddress
    language: Language = "en"


class InquirerInput(RequesterInput):
    """An inquiry's asker, who alone may choose to be named on the public portal."""

    named_publicly: StrictBool = Field(
        default=False,
        description="Show the asker's name with the inquiry on the public transparency "
        "portal. Off unless chosen; the e-mail address is never shown.",
    )


class BannedEventInput(BannedEventRef):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: ShortText


Evidence = Annotated[list[EvidenceInput], Field(max_length=200)]
Links = Annotated[list[Url], Field(max_length=50)]


class Form(_Input):
    """Base of every kind's input model: what the rules and the event need from it."""

    KIND: ClassVar[SubmissionKind]

    @field_validator("summary", check_fields=False)
    @classmethod
    def _summary_bounds(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The policy's bounds, when validated with context {"summary_bounds": (min, max)},
        so they are reported together with the shape's errors."""
        bounds = (info.context or {}).get("summary_bounds", {}).get(cls.KIND.value)
        if value is None or bounds is None:
            return value
        low, high = bounds
        if len(value) < low:
            raise PydanticCustomError(
                "string_too_short",
                "must be at least {low} characters (policy), got {length}",
                {"low": low, "length": len(value)},
            )
        if len(value) > high:
            raise PydanticCustomError(
                "string_too_long",
                "must be at most {high} characters (policy): keep it succinct",
                {"high": high},
            )
        return value

    def action_type(self) -> str | None:
        return None

    def evidence_items(self) -> list[EvidenceInput]:
        return list(getattr(self, "evidence", []))

    def requester_of(self) -> RequesterInput | None:
        requester: RequesterInput | None = getattr(self, "requester", None)
        return requester

    def summary_text(self) -> str:
        summary: str = getattr(self, "summary", "")
        return summary

    def screened_texts(self) -> list[tuple[str, str]]:
        """(field, text) pairs the screening rules read."""
        return [("summary", self.summary_text())]

    def target(self) -> str | None:
        """What a duplicate would share with this submission; None when not comparable."""
        return None

    def event_fields(self) -> dict[str, Any]:
        """The kind-specific fields of SubmissionReceived."""
        return {}


class RequestForm(Form):
    """A request for an office action ("Requesting an office action")."""

    KIND = SubmissionKind.REQUEST
    action: ActionName
    summary: Text
    subject: SubjectInput
    evidence: Annotated[list[EvidenceInput], Field(min_length=1, max_length=200)]
    prior_attempts: Links = []
    requester: RequesterInput

    def action_type(self) -> str | None:
        return self.action

    def target(self) -> str | None:
        return f"{self.action}|{skeleton(self.subject.account)}"

    def event_fields(self) -> dict[str, Any]:
        return {
            "subject": _subject(self.subject),
            "evidence": _evidence(self.evidence),
            "prior_attempts": list(self.prior_attempts),
        }


class DmcaForm(Form):
    """A DMCA notice. The statutory elements are optional in this shape so that a notice
    missing several is answered with all of them at once (rules.py)."""

    KIND = SubmissionKind.DMCA_NOTICE
    copyrighted_work: Text | None = None
    infringing_material: Text | None = None
    locations: Links = []
    contact_address: Annotated[str, Field(max_length=1000, pattern=TEXT_PATTERN)] | None = None
    contact_phone: Annotated[str, Field(max_length=50, pattern=TEXT_PATTERN)] = ""
    good_faith_statement: StrictBool = False
    accuracy_statement: StrictBool = False
    signature: ShortText | None = None
    summary: Text | None = None
    requester: RequesterInput

    def summary_text(self) -> str:
        return self.summary or self.infringing_material or "DMCA notice"

    def screened_texts(self) -> list[tuple[str, str]]:
        texts = [("summary", self.summary), ("infringing_material", self.infringing_material)]
        return [(f, t) for f, t in texts if t]

    def target(self) -> str | None:
        return f"dmca|{self.locations[0]}" if self.locations else None

    def event_fields(self) -> dict[str, Any]:
        """Call only once the rules found every statutory element present."""
        return {
            "dmca": DmcaNotice(
                copyrighted_work=self.copyrighted_work or "",
                infringing_material=self.infringing_material or "",
                locations=list(self.locations),
                contact_address=self.contact_address or "",
                contact_phone=self.contact_phone,
                good_faith_statement=self.good_faith_statement,
                accuracy_statement=self.accuracy_statement,
                signature=self.signature or "",
            )
        }


class ChildProtectionForm(Form):
    """A child-protection report: only a description is required; contact is optional."""

    KIND = SubmissionKind.CHILD_PROTECTION_REPORT
    summary: Text
    evidence: Evidence = []
    subject: SubjectInput | None = None
    requester: RequesterInput | None = None

    def event_fields(self) -> dict[str, Any]:
        return {
            "subject": _subject(self.subject) if self.subject else None,
            "evidence": _evidence(self.evidence),
        }


class AppealForm(Form):
    """An appeal of a named earlier action."""

    KIND = SubmissionKind.APPEAL
    action: ActionName
    refers_to: CaseRef
    action_date: date | None = None
    summary: Text
    subject: SubjectInput | None = None
    evidence: Evidence = []
    requester: RequesterInput

    def action_type(self) -> str | None:
        return self.action

    def target(self) -> str | None:
        return f"appeal|{self.refers_to}"

    def event_fields(self) -> dict[str, Any]:
        return {
            "refers_to": self.refers_to,
            "subject": _subject(self.subject) if self.subject else None,
            "evidence": _evidence(self.evidence),
        }


class BreachForm(Form):
    """A breach of an earlier action: a banned user's sock, content, or presence at an event."""

    KIND = SubmissionKind.BREACH_REPORT
    breach: BreachKind
    refers_to: CaseRef
    summary: Text
    subject: SubjectInput
    evidence: Annotated[list[EvidenceInput], Field(min_length=1, max_length=200)]
    banned_event: BannedEventInput | None = None
    requester: RequesterInput

    def target(self) -> str | None:
        return f"breach|{self.refers_to}|{skeleton(self.subject.account)}"

    def event_fields(self) -> dict[str, Any]:
        return {
            "breach": self.breach,
            "refers_to": self.refers_to,
            "subject": _subject(self.subject),
            "evidence": _evidence(self.evidence),
            "banned_event": (
                BannedEventRef.model_validate(self.banned_event.model_dump())
                if self.banned_event
                else None
            ),
        }


class AbuseForm(Form):
    """A report of abuse of office or staff actions; the staff named must not see it."""

    KIND = SubmissionKind.ABUSE_REPORT
    named_staff: Annotated[list[StaffName], Field(min_length=1, max_length=20)]
    refers_to: CaseRef | None = None
    summary: Text
    evidence: Evidence = []
    requester: RequesterInput

    def event_fields(self) -> dict[str, Any]:
        return {
            "named_staff": list(self.named_staff),
            "refers_to": self.refers_to,
            "evidence": _evidence(self.evidence),
        }


class InquiryForm(Form):
    """Questions about an action's reasons, each kept separately to be answered or refused."""

    KIND = SubmissionKind.INQUIRY
    refers_to: CaseRef
    questions: Annotated[list[Question], Field(min_length=1, max_length=20)]
    requester: InquirerInput

    def summary_text(self) -> str:
        return "\n".join(f"{i}. {q}" for i, q in enumerate(self.questions, 1))

    def screened_texts(self) -> list[tuple[str, str]]:
        return [(f"questions.{i}", q) for i, q in enumerate(self.questions)]

    def event_fields(self) -> dict[str, Any]:
        return {"refers_to": self.refers_to, "questions": list(self.questions)}


AnyForm = (
    RequestForm | DmcaForm | ChildProtectionForm | AppealForm | BreachForm | AbuseForm | InquiryForm
)

FORMS: dict[SubmissionKind, type[AnyForm]] = {
    SubmissionKind.REQUEST: RequestForm,
    SubmissionKind.DMCA_NOTICE: DmcaForm,
    SubmissionKind.CHILD_PROTECTION_REPORT: ChildProtectionForm,
    SubmissionKind.APPEAL: AppealForm,
    SubmissionKind.BREACH_REPORT: BreachForm,
    SubmissionKind.ABUSE_REPORT: AbuseForm,
    SubmissionKind.INQUIRY: InquiryForm,
}


def _subject(subject: SubjectInput) -> Subject:
    return Subject.model_validate(subject.model_dump())


def _evidence(items: list[EvidenceInput]) -> list[EvidenceItem]:
    return [EvidenceItem.model_validate(e.model_dump()) for e in items]

"""Public-level events: what the transparency portal may know, and nothing else.

Notify publishes them from the public views it already renders for the wiki's log page,
on a topic of their own (``officeactions.public``), never on ``officeactions.notify``
whose events may carry delivery errors naming an address. Every field here is one the
policy lets the whole world read; the portal consumes this topic alone, so a private
value cannot reach it unless one of these models grows a field for it.

Texts are rendered by notify in each language the policy has (``statements``, one per
language), so the portal shows them without policy data of its own.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from casework.contract.common import (
    NAMESPACE,
    PUBLIC_TOPIC,
    Account,
    AwareDatetime,
    EventData,
    Language,
    Part,
    Url,
    WikiId,
)

ShortText = Annotated[str, Field(max_length=20_000)]


class LogEntry(Part):
    """Where the statement (or its reversal) stands on the wiki: a page and its revision."""

    page: Annotated[str, Field(min_length=1, max_length=255)]
    revision_id: int | None = None
    url: Url | None = None


class PublicAnswer(Part):
    """One of the five questions (casework.contract.Question), answered or not disclosed."""

    question: Annotated[str, Field(min_length=1, max_length=64)]
    heading: ShortText = Field(description="The question as the reader's language puts it.")
    disclosed: bool
    lines: list[ShortText] = Field(
        default_factory=list, description="The answer, plain text, one item per line."
    )
    grounds: ShortText | None = Field(
        default=None, description="Why it is not disclosed; always set when disclosed is false."
    )


class PublicStatement(Part):
    """The statement in one language."""

    language: Language
    action_title: ShortText
    public_rationale: ShortText = ""
    answers: list[PublicAnswer] = Field(default_factory=list)


class StatementPublished(EventData):
    """An office action's public statement is on the wiki's log page (revision ``revision``
    of the case's decision). Confidential actions have none, and no such event."""

    TYPE = f"{NAMESPACE}.notify.statement-published.v1"
    PRODUCER = "notify"
    TOPIC = PUBLIC_TOPIC

    case_id: str
    revision: int = Field(ge=1)
    action_type: Annotated[str, Field(min_length=1, max_length=64)]
    account: Account | None = None
    wikis: list[WikiId] = Field(description="The decision's scope; empty means every wiki.")
    enforced_on: list[WikiId] = Field(default_factory=list)
    language: Language = Field(description="The community's language.")
    appealable: bool
    requested_at: AwareDatetime | None = Field(
        default=None, description="When the request that opened the case was received."
    )
    deadline_at: AwareDatetime | None = None
    decided_at: AwareDatetime | None = None
    enforced_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    statements: list[PublicStatement] = Field(min_length=1)
    log_entry: LogEntry | None = None
    published_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class DsaStatementSubmitted(EventData):
    """The statement of reasons went to the EU's DSA Transparency Database."""

    TYPE = f"{NAMESPACE}.notify.dsa-statement-submitted.v1"
    PRODUCER = "notify"
    TOPIC = PUBLIC_TOPIC

    case_id: str
    revision: int = Field(ge=1)
    puid: Annotated[str, Field(min_length=1, max_length=500)]
    dsa_id: Annotated[str, Field(max_length=200)] | None = None
    url: Url | None = None
    submitted_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class ReversalPublished(EventData):
    """A published action was reversed, and the reversal is on the log page."""

    TYPE = f"{NAMESPACE}.notify.reversal-published.v1"
    PRODUCER = "notify"
    TOPIC = PUBLIC_TOPIC

    case_id: str
    reason: ShortText
    grounds: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="appeal-upheld, error or declined-after-expedited."
    )
    appeal_case_id: str | None = None
    reversed_at: AwareDatetime
    log_entry: LogEntry | None = None
    published_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class AppealFiled(EventData):
    """Someone appealed a published action (who is never said)."""

    TYPE = f"{NAMESPACE}.notify.appeal-filed.v1"
    PRODUCER = "notify"
    TOPIC = PUBLIC_TOPIC

    case_id: str = Field(description="The appeal's own case.")
    about_case_id: str
    filed_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class AppealDecided(EventData):
    """An appeal of a published action was decided: upheld (the action reversed) or not."""

    TYPE = f"{NAMESPACE}.notify.appeal-decided.v1"
    PRODUCER = "notify"
    TOPIC = PUBLIC_TOPIC

    case_id: str
    about_case_id: str
    outcome: Literal["upheld", "dismissed"]
    decided_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class InquiryReceived(EventData):
    """Someone asked about a published action; its questions are public only once answered
    (staff may hold them back, with grounds)."""

    TYPE = f"{NAMESPACE}.notify.inquiry-received.v1"
    PRODUCER = "notify"
    TOPIC = PUBLIC_TOPIC

    case_id: str = Field(description="The inquiry's own case.")
    about_case_id: str
    asked_at: AwareDatetime
    deadline_at: AwareDatetime | None = None
    question_count: int = Field(ge=1)

    def event_subject(self) -> str:
        return self.case_id


class PublicInquiryAnswer(Part):
    question: ShortText
    outcome: Literal["answered", "refused"]
    text: ShortText = Field(description="The answer, or the grounds of the refusal.")


class InquiryAnswerPublished(EventData):
    """An inquiry's answers, or, when staff held them back, the grounds for holding back."""

    TYPE = f"{NAMESPACE}.notify.inquiry-answer-published.v1"
    PRODUCER = "notify"
    TOPIC = PUBLIC_TOPIC

    case_id: str
    about_case_id: str
    language: Language = "en"
    asker_name: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="Only when the asker chose to be named."
    )
    asked_at: AwareDatetime
    deadline_at: AwareDatetime | None = None
    answered_at: AwareDatetime
    answers: list[PublicInquiryAnswer] = Field(
        default_factory=list, description="Empty when held back."
    )
    held_back: bool = False
    held_back_grounds: ShortText | None = None

    @model_validator(mode="after")
    def _held_back_with_grounds(self) -> InquiryAnswerPublished:
        if self.held_back and (self.answers or not (self.held_back_grounds or "").strip()):
            raise ValueError("held back: answers must be empty and held_back_grounds given")
        if not self.held_back and not self.answers:
            raise ValueError("answers: at least one unless held back")
        return self

    def event_subject(self) -> str:
        return self.case_id


EVENTS: tuple[type[EventData], ...] = (
    StatementPublished,
    DsaStatementSubmitted,
    ReversalPublished,
    AppealFiled,
    AppealDecided,
    InquiryReceived,
    InquiryAnswerPublished,
)

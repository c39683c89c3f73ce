"""The public-level events (casework.contract.public) built from the public views notify
already renders for the log page. Pure: no I/O beyond reading templates.

Each mapper copies named public fields one by one, never a view or an event dumped
whole, so a private field (the requester's address, a staff id, an approval's comment,
evidence not released to the public, counsel's text beyond what is disclosed) has no
way in. A confidential action has no statement and so none of these events; what
decides that is the use case's (usecases/public_records.py), not a mapper's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from jinja2 import Environment

from casework.contract import (
    ActionEnforced,
    AppealDecided,
    AppealFiled,
    DsaStatementSubmitted,
    InquiryAnswered,
    InquiryAnswerPublished,
    InquiryReceived,
    LogEntry,
    PublicAnswer,
    PublicInquiryAnswer,
    PublicStatement,
    ReversalPublished,
    SignOff,
    StatementPublished,
)
from casework.policy import Policy
from services.notify.domain.answers import NO_GROUNDS
from services.notify.domain.render import answer_lines
from services.notify.domain.views import PublicView, ReversalView, public_view

DSA_ID_LIMIT = 200


@dataclass(frozen=True)
class StatementFacts:
    """The public-level facts of a statement besides its views: which revision of which
    action type, the community's language, and the dates notify kept of the case."""

    revision: int
    action_type: str
    language: str
    requested_at: datetime | None = None
    deadline_at: datetime | None = None
    decided_at: datetime | None = None


def statement_facts(
    enforced: ActionEnforced,
    *,
    requested_at: datetime | None = None,
    deadline_at: datetime | None = None,
    decided_at: datetime | None = None,
) -> StatementFacts:
    decision = enforced.decision
    return StatementFacts(
        revision=decision.revision,
        action_type=decision.action_type,
        language=decision.language,
        requested_at=requested_at,
        deadline_at=deadline_at,
        decided_at=decided_at,
    )


def statement_languages(policy: Policy) -> list[str]:
    """One statement per language the policy's words are given in, English first (the
    community's language is among them whenever the policy is translated into it)."""
    return sorted(set(policy.languages), key=lambda language: (language != "en", language))


def statement_views(
    enforced: ActionEnforced, policy: Policy, signoffs: list[SignOff] | None
) -> list[tuple[str, PublicView]]:
    """The public view in each statement language: the same views the log page shows."""
    return [
        (language, public_view(enforced, policy, signoffs, language))
        for language in statement_languages(policy)
    ]


def log_entry(reference: str, index_url: str | None = None) -> LogEntry:
    """The log entry of a wiki-page delivery's reference (``Page?oldid=N``); its URL when
    the wiki's index.php is known."""
    page, _, oldid = reference.partition("?oldid=")
    revision = int(oldid) if oldid.isdigit() else None
    url = None
    if index_url and revision is not None:
        url = f"{index_url}?title={quote(page.replace(' ', '_'))}&oldid={revision}"
    return LogEntry(page=page, revision_id=revision, url=url)


def localized_statement(env: Environment, language: str, view: PublicView) -> PublicStatement:
    answers = []
    for a in view.answers:
        heading, lines = answer_lines(env, a, language)
        answers.append(
            PublicAnswer(
                question=a.question.value,
                heading=heading,
                disclosed=a.disclosed,
                lines=lines,
                grounds=None if a.disclosed else (a.grounds or NO_GROUNDS),
            )
        )
    return PublicStatement(
        language=language,
        action_title=view.action_title,
        public_rationale=view.public_rationale,
        answers=answers,
    )


def statement_published(
    env: Environment,
    views: Sequence[tuple[str, PublicView]],
    facts: StatementFacts,
    entry: LogEntry | None,
    published_at: datetime,
) -> StatementPublished:
    """``views``: (language, view) with English first, as statement_views gives them."""
    _, first = views[0]
    return StatementPublished(
        case_id=first.case_id,
        revision=facts.revision,
        action_type=facts.action_type,
        account=first.account,
        wikis=list(first.wikis),
        enforced_on=list(first.enforced_on),
        language=facts.language,
        appealable=first.appealable,
        requested_at=facts.requested_at,
        deadline_at=facts.deadline_at,
        decided_at=facts.decided_at,
        enforced_at=first.at,
        expires_at=first.expires_at,
        statements=[localized_statement(env, language, view) for language, view in views],
        log_entry=entry,
        published_at=published_at,
    )


def reversal_published(
    view: ReversalView, entry: LogEntry | None, published_at: datetime
) -> ReversalPublished:
    return ReversalPublished(
        case_id=view.case_id,
        reason=view.reason,
        grounds=view.grounds,
        appeal_case_id=view.appeal_case_id,
        reversed_at=view.at,
        log_entry=entry,
        published_at=published_at,
    )


def appeal_upheld(view: ReversalView) -> AppealDecided | None:
    """An upheld appeal: the reversal names its appeal case. (A dismissed appeal has no
    event review signs, so notify says nothing of it.)"""
    if view.grounds != "appeal-upheld" or view.appeal_case_id is None:
        return None
    return AppealDecided(
        case_id=view.appeal_case_id,
        about_case_id=view.case_id,
        outcome="upheld",
        decided_at=view.at,
    )


def appeal_filed(case_id: str, about_case_id: str, filed_at: datetime) -> AppealFiled:
    return AppealFiled(case_id=case_id, about_case_id=about_case_id, filed_at=filed_at)


def inquiry_received(
    case_id: str,
    about_case_id: str,
    *,
    asked_at: datetime,
    deadline_at: datetime | None,
    question_count: int,
) -> InquiryReceived:
    return InquiryReceived(
        case_id=case_id,
        about_case_id=about_case_id,
        asked_at=asked_at,
        deadline_at=deadline_at,
        question_count=question_count,
    )


def inquiry_answer_published(
    answered: InquiryAnswered,
    about_case_id: str,
    *,
    asked_at: datetime,
    deadline_at: datetime | None,
) -> InquiryAnswerPublished:
    """The answers (or, held back, only the grounds for holding them back); the asker's
    name only if they chose to be named. ``asked_at``/``deadline_at``: the event's own
    when review gave them, else what notify kept when the inquiry was opened."""
    requester = answered.requester
    held_back = answered.held_back
    return InquiryAnswerPublished(
        case_id=answered.case_id,
        about_case_id=about_case_id,
        language=requester.language,
        asker_name=requester.name if requester.named_publicly else None,
        asked_at=answered.asked_at or asked_at,
        deadline_at=answered.deadline_at or deadline_at,
        answered_at=answered.answered_at,
        answers=[]
        if held_back
        else [
            PublicInquiryAnswer(question=a.question, outcome=a.outcome, text=a.text)
            for a in answered.answers
        ],
        held_back=held_back,
        # Review requires grounds; a signed event without them still says none were given.
        held_back_grounds=((answered.held_back_grounds or "").strip() or NO_GROUNDS)
        if held_back
        else None,
    )


def dsa_statement_submitted(
    case_id: str,
    revision: int,
    statement: dict[str, object],
    answer: dict[str, object],
    submitted_at: datetime,
) -> DsaStatementSubmitted:
    """The platform's id of the statement and the id the database gave it."""
    dsa_id = answer.get("uuid")
    return DsaStatementSubmitted(
        case_id=case_id,
        revision=revision,
        puid=str(statement["puid"]),
        dsa_id=str(dsa_id)[:DSA_ID_LIMIT] if dsa_id else None,
        submitted_at=submitted_at,
    )

"""Audience views: each output is rendered from one of these and nothing else.

A view copies only the fields its audience may see. Templates never receive
an event, so a private field cannot reach an output by accident. Each view is built
for one language, its audience's: the policy's own words in it (the action title and
those in the five answers, services/notify/domain/answers.py) come in that language.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from casework.contract import (
    ActionEnforced,
    Audience,
    Decision,
    DecisionApproved,
    DecisionReversed,
    Requester,
    SignOff,
    SubmissionReceived,
)
from casework.policy import Policy
from services.notify.domain.answers import (
    NO_GROUNDS,
    Answer,
    ClauseView,
    EvidenceView,
    answer,
    answers,
    may_know,
    visible_evidence,
)

__all__ = [
    "NO_GROUNDS",
    "Answer",
    "ClauseView",
    "EvidenceView",
    "answer",
    "answers",
    "may_know",
    "visible_evidence",
]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class CaseFacts(_View):
    """What anyone may know about an action: never the requester, an address or a private item."""

    case_id: str
    action_title: str
    account: str
    wikis: list[str]
    at: datetime
    expires_at: datetime | None
    public_rationale: str
    appealable: bool


class PublicView(CaseFacts):
    answers: list[Answer]
    enforced_on: list[str]


class AffectedUserView(CaseFacts):
    answers: list[Answer]
    enforced_on: list[str]
    language: str
    appeal_until: datetime | None
    contact_address: str


class FunctionaryBriefView(CaseFacts):
    answers: list[Answer]
    wiki: str
    appeal_until: datetime | None
    contact_address: str


class RequesterOutcomeView(_View):
    """What was decided on their request: nothing private of the subject."""

    reference: str
    name: str
    language: str
    outcome: str  # approved | declined
    action_title: str
    wikis: list[str]
    public_rationale: str
    answers: list[Answer]
    contact_address: str


class AcknowledgementView(_View):
    reference: str
    name: str
    language: str
    kind: str
    action_title: str
    contact_address: str


class OpsAlertView(_View):
    """Staff level: an alert from the ops monitor, for the ops address only."""

    alert_key: str
    kind: str
    case_id: str
    what_happened: str
    what_to_do: str
    case_url: str
    raised_at: str


class MissingFieldView(_View):
    field: str
    message: str


class IncompleteView(_View):
    reference: str
    name: str
    language: str
    missing: list[MissingFieldView]


class InquiryAnswerView(_View):
    question: str
    outcome: str
    text: str


class InquiryView(_View):
    case_id: str
    about_case_id: str | None
    name: str
    language: str
    answers: list[InquiryAnswerView]
    contact_address: str


class ReversalView(_View):
    case_id: str
    action_title: str
    account: str
    wikis: list[str]
    reason: str
    at: datetime
    language: str
    contact_address: str
    # Public-level too (the portal's): why, and which appeal, when one was upheld.
    grounds: str | None = None
    appeal_case_id: str | None = None


# --- views per output ---------------------------------------------------------------------------


def _scope(decision: Decision) -> list[str]:
    """The wikis the decision covers (none listed: every wiki), the same in every output;
    where enforcement acted is said separately (``enforced_on``)."""
    return list(decision.wikis)


def _enforced_on(event: ActionEnforced) -> list[str]:
    return sorted({op.wiki for op in event.operations})


def _facts(
    case_id: str, decision: Decision, policy: Policy, at: datetime, language: str
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "action_title": policy.text(language, "action_types", decision.action_type),
        "account": decision.subject.account,
        "wikis": _scope(decision),
        "at": at,
        "expires_at": decision.expires_at,
        "public_rationale": decision.public_rationale,
        "appealable": decision.appealable,
    }


def contact_address(decision: Decision, policy: Policy) -> str:
    return policy.teams[policy.action(decision.action_type).routed_to].address


def public_view(
    event: ActionEnforced,
    policy: Policy,
    signoffs: list[SignOff] | None = None,
    language: str = "en",
) -> PublicView:
    """English for the log page and the transparency records; the statement of a case in
    another language also carries that language's (render.public_statement)."""
    decision = event.decision
    return PublicView(
        **_facts(event.case_id, decision, policy, event.enforced_at, language),
        answers=answers(decision, signoffs, policy, Audience.PUBLIC, language),
        enforced_on=_enforced_on(event),
    )


def affected_user_view(
    event: ActionEnforced, policy: Policy, signoffs: list[SignOff] | None = None
) -> AffectedUserView:
    decision = event.decision
    language = decision.subject.language
    return AffectedUserView(
        **_facts(event.case_id, decision, policy, event.enforced_at, language),
        answers=answers(decision, signoffs, policy, Audience.AFFECTED_USER, language),
        enforced_on=_enforced_on(event),
        language=decision.subject.language,
        appeal_until=decision.appeal_until,
        contact_address=contact_address(decision, policy),
    )


def functionary_brief_view(
    approved: DecisionApproved, policy: Policy, wiki: str, language: str = "en"
) -> FunctionaryBriefView:
    """``language``: the wiki's functionary listing's."""
    decision = approved.decision
    return FunctionaryBriefView(
        **_facts(approved.case_id, decision, policy, approved.approved_at, language),
        answers=answers(decision, approved.signoffs, policy, Audience.FUNCTIONARIES, language),
        wiki=wiki,
        appeal_until=decision.appeal_until,
        contact_address=contact_address(decision, policy),
    )


def requester_outcome_view(
    *,
    reference: str,
    name: str,
    language: str,
    outcome: str,
    decision: Decision | None,
    signoffs: list[SignOff] | None,
    action_title: str,
    contact: str,
    policy: Policy,
) -> RequesterOutcomeView:
    return RequesterOutcomeView(
        reference=reference,
        name=name,
        language=language,
        outcome=outcome,
        action_title=action_title,
        wikis=_scope(decision) if decision is not None else [],
        public_rationale=decision.public_rationale if decision is not None else "",
        answers=answers(decision, signoffs, policy, Audience.REQUESTER, language)
        if decision is not None
        else [],
        contact_address=contact,
    )


def acknowledgement_view(
    received: SubmissionReceived, requester: Requester, policy: Policy
) -> AcknowledgementView:
    """The receipt of a submission, in its requester's language."""
    action = received.action_type
    return AcknowledgementView(
        reference=received.submission_id,
        name=requester.name,
        language=requester.language,
        kind=str(received.kind),
        action_title=policy.text(requester.language, "action_types", action) if action else "",
        contact_address=policy.teams[received.routed_to].address,
    )


def reversal_view(
    reversed_: DecisionReversed, policy: Policy, language: str | None = None
) -> ReversalView:
    """In the affected user's language unless ``language`` is given (the log page's: en)."""
    decision = reversed_.decision
    language = language or decision.subject.language
    return ReversalView(
        case_id=reversed_.case_id,
        action_title=policy.text(language, "action_types", decision.action_type),
        account=decision.subject.account,
        wikis=_scope(decision),
        reason=reversed_.reason,
        at=reversed_.reversed_at,
        language=language,
        contact_address=contact_address(decision, policy),
        grounds=reversed_.grounds,
        appeal_case_id=reversed_.appeal_case_id,
    )

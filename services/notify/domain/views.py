"""Audience views: each output is rendered from one of these and nothing else.

A view copies only the fields its audience may see. Templates never receive
an event, so a private field cannot reach an output by accident. The five
questions of DESIGN.md §4 are answered here per audience: each answer is
either given, or "not disclosed" with the recorded grounds, or (when there is nothing to
disclose: no legal determination made, no evidence cited) said to be none. "Not disclosed"
is only ever said of something that exists and is withheld.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from casework.contract import (
    ActionEnforced,
    Audience,
    DecidedEvidence,
    Decision,
    DecisionApproved,
    DecisionReversed,
    Question,
    SignOff,
)
from casework.policy import Policy

NO_GROUNDS = "no grounds recorded"


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ClauseView(_View):
    id: str
    source: str
    section: str
    text: str
    catalogue_version: str


class EvidenceView(_View):
    description: str
    url: str | None
    where: str


class Answer(_View):
    """One question answered for one audience. Only the fields of `question` are filled."""

    question: Question
    disclosed: bool
    grounds: str = ""
    clauses: list[ClauseView] = []
    places: list[str] = []
    community_language: str = ""
    fluent_levels: list[str] = []
    signers_known: bool = False
    actions: list[EvidenceView] = []
    determination_made: bool = False
    determination_kind: str = ""
    determination_text: str = ""
    nothing_recorded: bool = False  # the decision cites no evidence at all


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


# --- the five answers ---------------------------------------------------------------------------


def may_know(decision: Decision, policy: Policy, question: Question, audience: Audience) -> bool:
    """Policy baseline or the decision's own release; staff always know."""
    if audience in (Audience.STAFF, Audience.LEGAL_PRIVILEGED):
        return True
    if audience in policy.notify.baseline.get(question, []):
        return True
    return decision.disclosure.may_know(question, audience)


def _withheld(decision: Decision, question: Question) -> Answer:
    release = decision.disclosure.answers.get(question)
    grounds = release.grounds.strip() if release is not None else ""
    return Answer(question=question, disclosed=False, grounds=grounds or NO_GROUNDS)


def visible_evidence(decision: Decision, audience: Audience) -> list[DecidedEvidence]:
    """Evidence items released to this audience (public items are everyone's)."""
    return [
        e
        for e in decision.evidence
        if audience in e.audiences
        or Audience.PUBLIC in e.audiences
        or audience in (Audience.STAFF, Audience.LEGAL_PRIVILEGED)
    ]


def answer(
    decision: Decision,
    signoffs: list[SignOff] | None,
    policy: Policy,
    question: Question,
    audience: Audience,
) -> Answer:
    if question is Question.LEGAL_DETERMINATION and decision.determination is None:
        return Answer(question=question, disclosed=True, determination_made=False)
    if question in (Question.WHERE, Question.PUBLIC_ACTIONS) and not decision.evidence:
        return Answer(question=question, disclosed=True, nothing_recorded=True)
    if not may_know(decision, policy, question, audience):
        return _withheld(decision, question)
    if question is Question.CLAUSES:
        return Answer(
            question=question,
            disclosed=True,
            clauses=[
                ClauseView(
                    id=g.id,
                    source=g.source,
                    section=g.section,
                    text=g.text,
                    catalogue_version=g.catalogue_version,
                )
                for g in decision.grounds
            ],
        )
    if question is Question.WHERE:
        # Only the classes of the acts: the items themselves are question 4's business.
        places = sorted({str(e.where) for e in decision.evidence})
        return Answer(question=question, disclosed=True, places=places)
    if question is Question.LANGUAGE_EXPERTISE:
        return _language_expertise(decision, signoffs, policy)
    if question is Question.PUBLIC_ACTIONS:
        items = [
            EvidenceView(description=e.description, url=e.url, where=str(e.where))
            for e in visible_evidence(decision, audience)
        ]
        return Answer(question=question, disclosed=True, actions=items)
    return _legal_determination(decision, question)


def _language_expertise(
    decision: Decision, signoffs: list[SignOff] | None, policy: Policy
) -> Answer:
    community = decision.language.split("-")[0]
    approving = [s for s in (signoffs or []) if s.verdict == "approve"]
    fluent = [
        policy.signoff_levels[s.level].title if s.level in policy.signoff_levels else s.level
        for s in approving
        if community in {lang.split("-")[0] for lang in s.languages}
    ]
    return Answer(
        question=Question.LANGUAGE_EXPERTISE,
        disclosed=True,
        community_language=decision.language,
        fluent_levels=fluent,
        signers_known=signoffs is not None,
    )


def _legal_determination(decision: Decision, question: Question) -> Answer:
    determination = decision.determination
    if determination is None:
        return Answer(question=question, disclosed=True, determination_made=False)
    text = determination.disclosed_text()
    if text is None:
        return Answer(
            question=question,
            disclosed=False,
            grounds=determination.grounds.strip() or NO_GROUNDS,
        )
    return Answer(
        question=question,
        disclosed=True,
        determination_made=True,
        determination_kind=str(determination.disclosure),
        determination_text=text,
    )


def answers(
    decision: Decision, signoffs: list[SignOff] | None, policy: Policy, audience: Audience
) -> list[Answer]:
    return [answer(decision, signoffs, policy, q, audience) for q in Question]


# --- views per output ---------------------------------------------------------------------------


def _scope(decision: Decision) -> list[str]:
    """The wikis the decision covers (none listed: every wiki), the same in every output;
    where enforcement acted is said separately (``enforced_on``)."""
    return list(decision.wikis)


def _enforced_on(event: ActionEnforced) -> list[str]:
    return sorted({op.wiki for op in event.operations})


def _facts(
    case_id: str, decision: Decision, policy: Policy, wikis: list[str], at: datetime
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "action_title": policy.action(decision.action_type).title,
        "account": decision.subject.account,
        "wikis": wikis,
        "at": at,
        "expires_at": decision.expires_at,
        "public_rationale": decision.public_rationale,
        "appealable": decision.appealable,
    }


def contact_address(decision: Decision, policy: Policy) -> str:
    return policy.teams[policy.action(decision.action_type).routed_to].address


def public_view(
    event: ActionEnforced, policy: Policy, signoffs: list[SignOff] | None = None
) -> PublicView:
    decision = event.decision
    return PublicView(
        **_facts(event.case_id, decision, policy, _scope(decision), event.enforced_at),
        answers=answers(decision, signoffs, policy, Audience.PUBLIC),
        enforced_on=_enforced_on(event),
    )


def affected_user_view(
    event: ActionEnforced, policy: Policy, signoffs: list[SignOff] | None = None
) -> AffectedUserView:
    decision = event.decision
    return AffectedUserView(
        **_facts(event.case_id, decision, policy, _scope(decision), event.enforced_at),
        answers=answers(decision, signoffs, policy, Audience.AFFECTED_USER),
        enforced_on=_enforced_on(event),
        language=decision.subject.language,
        appeal_until=decision.appeal_until,
        contact_address=contact_address(decision, policy),
    )


def functionary_brief_view(
    approved: DecisionApproved, policy: Policy, wiki: str
) -> FunctionaryBriefView:
    decision = approved.decision
    return FunctionaryBriefView(
        **_facts(approved.case_id, decision, policy, _scope(decision), approved.approved_at),
        answers=answers(decision, approved.signoffs, policy, Audience.FUNCTIONARIES),
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
        answers=answers(decision, signoffs, policy, Audience.REQUESTER)
        if decision is not None
        else [],
        contact_address=contact,
    )


def reversal_view(reversed_: DecisionReversed, policy: Policy) -> ReversalView:
    decision = reversed_.decision
    return ReversalView(
        case_id=reversed_.case_id,
        action_title=policy.action(decision.action_type).title,
        account=decision.subject.account,
        wikis=_scope(decision),
        reason=reversed_.reason,
        at=reversed_.reversed_at,
        language=decision.subject.language,
        contact_address=contact_address(decision, policy),
    )

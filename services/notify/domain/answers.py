"""The five questions of DESIGN.md §4 answered for one audience, in its language.

Each answer is either given, or "not disclosed" with the recorded grounds, or (when there
is nothing to disclose: no legal determination made, no evidence cited) said to be none.
"Not disclosed" is only ever said of something that exists and is withheld. The policy's
own words in an answer (sign-off level titles, the standard refusal grounds) are given in
the audience's language (``Policy.text``); clause texts as the decision snapshotted them in
that language when it was drafted (``clause_view``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from casework.contract import (
    Audience,
    ClauseGround,
    DecidedEvidence,
    Decision,
    Question,
    SignOff,
)
from casework.policy import Policy
from casework.policy.grounds import ground_words
from casework.policy.translations import REFUSALS

NO_GROUNDS = REFUSALS["no-grounds"]


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


# --- the answers ---------------------------------------------------------------------------


def may_know(decision: Decision, policy: Policy, question: Question, audience: Audience) -> bool:
    """Policy baseline or the decision's own release; staff always know."""
    if audience in (Audience.STAFF, Audience.LEGAL_PRIVILEGED):
        return True
    if audience in policy.notify.baseline.get(question, []):
        return True
    return decision.disclosure.may_know(question, audience)


def refusal(policy: Policy, language: str, grounds: str) -> str:
    """Recorded grounds as written, but the standard ones (none recorded, the contract's
    default "no disclosure decision recorded") in the audience's language."""
    text = grounds.strip() or NO_GROUNDS
    for key, english in REFUSALS.items():
        if text == english:
            return policy.text(language, "refusals", key)
    return text


def _withheld(decision: Decision, policy: Policy, question: Question, language: str) -> Answer:
    release = decision.disclosure.answers.get(question)
    grounds = release.grounds if release is not None else ""
    return Answer(question=question, disclosed=False, grounds=refusal(policy, language, grounds))


def clause_view(ground: ClauseGround, policy: Policy, language: str) -> ClauseView:
    """The clause as the decision said it in ``language`` (casework.policy.grounds)."""
    words = ground_words(ground, policy, language)
    return ClauseView(
        id=ground.id,
        catalogue_version=ground.catalogue_version,
        source=words.source,
        section=words.section,
        text=words.text,
    )


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
    language: str = "en",
) -> Answer:
    if question is Question.LEGAL_DETERMINATION and decision.determination is None:
        return Answer(question=question, disclosed=True, determination_made=False)
    if question in (Question.WHERE, Question.PUBLIC_ACTIONS) and not decision.evidence:
        return Answer(question=question, disclosed=True, nothing_recorded=True)
    if not may_know(decision, policy, question, audience):
        return _withheld(decision, policy, question, language)
    if question is Question.CLAUSES:
        return Answer(
            question=question,
            disclosed=True,
            clauses=[clause_view(g, policy, language) for g in decision.grounds],
        )
    if question is Question.WHERE:
        # Only the classes of the acts: the items themselves are question 4's business.
        places = sorted({str(e.where) for e in decision.evidence})
        return Answer(question=question, disclosed=True, places=places)
    if question is Question.LANGUAGE_EXPERTISE:
        return _language_expertise(decision, signoffs, policy, language)
    if question is Question.PUBLIC_ACTIONS:
        items = [
            EvidenceView(description=e.description, url=e.url, where=str(e.where))
            for e in visible_evidence(decision, audience)
        ]
        return Answer(question=question, disclosed=True, actions=items)
    return _legal_determination(decision, policy, question, language)


def _language_expertise(
    decision: Decision, signoffs: list[SignOff] | None, policy: Policy, language: str
) -> Answer:
    community = decision.language.split("-")[0]
    approving = [s for s in (signoffs or []) if s.verdict == "approve"]
    fluent = [
        policy.text(language, "signoff_levels", s.level)
        if s.level in policy.signoff_levels
        else s.level
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


def _legal_determination(
    decision: Decision, policy: Policy, question: Question, language: str
) -> Answer:
    determination = decision.determination
    if determination is None:
        return Answer(question=question, disclosed=True, determination_made=False)
    text = determination.disclosed_text()
    if text is None:
        return Answer(
            question=question,
            disclosed=False,
            grounds=refusal(policy, language, determination.grounds),
        )
    return Answer(
        question=question,
        disclosed=True,
        determination_made=True,
        determination_kind=str(determination.disclosure),
        determination_text=text,
    )


def answers(
    decision: Decision,
    signoffs: list[SignOff] | None,
    policy: Policy,
    audience: Audience,
    language: str = "en",
) -> list[Answer]:
    return [answer(decision, signoffs, policy, q, audience, language) for q in Question]

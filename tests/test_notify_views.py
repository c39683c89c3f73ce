"""The five questions answered per audience from the data (DESIGN.md §4), without I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from casework.contract import (
    ActionEnforced,
    Audience,
    Decision,
    DecisionApproved,
    Question,
    SignOff,
)
from casework.policy import load_policy
from services.notify.domain.render import email, environment, public_statement
from services.notify.domain.views import (
    affected_user_view,
    answer,
    answers,
    functionary_brief_view,
    public_view,
    requester_outcome_view,
)

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
AT = "2026-11-20T12:00:00+00:00"


def decision(**changes: Any) -> Decision:
    clause = POLICY.clauses.items["ucoc-3-1"]
    fields: dict[str, Any] = {
        "action_type": "global-lock",
        "subject": {"account": "Locked User", "email": "locked@example.org"},
        "grounds": [{"id": "ucoc-3-1", "catalogue_version": "2026-11", **clause.model_dump()}],
        "public_rationale": "Harassment.",
        "appealable": True,
        "language": "ru",
        "evidence": [
            {"id": "E1", "description": "diff", "where": "on-wiki-public", "audiences": ["public"]},
            {"id": "E2", "description": "chat", "where": "off-wiki-private"},
            {"id": "E3", "description": "meetup", "where": "in-person", "audiences": ["requester"]},
        ],
    }
    return Decision.model_validate({**fields, **changes})


def signoff(level: str, languages: list[str], verdict: str = "approve") -> SignOff:
    return SignOff(
        level=level,
        staff_id="x",
        verdict=verdict,
        comment="c",
        languages=languages,
        signed_at=AT,  # type: ignore[arg-type]
    )


def determination(disclosure: str) -> dict[str, Any]:
    return {
        "text": "Full text of counsel.",
        "disclosure": disclosure,
        "redacted_text": "Counsel [redacted].",
        "grounds": "privilege",
        "counsel_id": "carol",
        "determined_at": AT,
    }


def test_clauses_come_with_their_snapshotted_text() -> None:
    given = answer(decision(), None, POLICY, Question.CLAUSES, Audience.PUBLIC)
    assert given.disclosed
    [clause] = given.clauses
    assert clause.text == POLICY.clauses.items["ucoc-3-1"].text


def test_where_gives_classes_only_to_the_audiences_the_policy_or_decision_allows() -> None:
    withheld = answer(decision(), None, POLICY, Question.WHERE, Audience.PUBLIC)
    assert not withheld.disclosed and withheld.grounds == "no disclosure decision recorded"
    user = answer(decision(), None, POLICY, Question.WHERE, Audience.AFFECTED_USER)
    assert user.places == ["in-person", "off-wiki-private", "on-wiki-public"]
    released = decision(disclosure={"answers": {"where": {"audiences": ["public"], "grounds": ""}}})
    assert answer(released, None, POLICY, Question.WHERE, Audience.PUBLIC).disclosed


def test_language_expertise_compares_signers_with_the_community_language() -> None:
    signers = [
        signoff("case-handler", ["en", "ru-RU"]),
        signoff("ts-manager", ["en"]),
        signoff("legal-counsel", ["ru"], verdict="send-back"),
    ]
    given = answer(decision(), signers, POLICY, Question.LANGUAGE_EXPERTISE, Audience.PUBLIC)
    assert given.fluent_levels == ["Case handler"]
    assert given.signers_known and given.community_language == "ru"
    nobody = answer(
        decision(),
        [signoff("ts-manager", ["en"])],
        POLICY,
        Question.LANGUAGE_EXPERTISE,
        Audience.PUBLIC,
    )
    assert nobody.fluent_levels == [] and nobody.signers_known
    unknown = answer(decision(), None, POLICY, Question.LANGUAGE_EXPERTISE, Audience.PUBLIC)
    assert not unknown.signers_known


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (Audience.PUBLIC, ["diff"]),
        (Audience.REQUESTER, ["diff", "meetup"]),
        (Audience.AFFECTED_USER, ["diff"]),
        (Audience.STAFF, ["diff", "chat", "meetup"]),
    ],
)
def test_public_actions_list_only_items_released_to_the_audience(
    audience: Audience, expected: list[str]
) -> None:
    given = answer(decision(), None, POLICY, Question.PUBLIC_ACTIONS, audience)
    assert [e.description for e in given.actions] == expected


@pytest.mark.parametrize(
    ("disclosure", "disclosed", "text"),
    [
        ("full", True, "Full text of counsel."),
        ("redacted", True, "Counsel [redacted]."),
        ("withheld", False, ""),
    ],
)
def test_legal_determination_as_disclosed(disclosure: str, disclosed: bool, text: str) -> None:
    released = decision(
        determination=determination(disclosure),
        disclosure={"answers": {"legal-determination": {"audiences": ["public"], "grounds": ""}}},
    )
    given = answer(released, None, POLICY, Question.LEGAL_DETERMINATION, Audience.PUBLIC)
    assert given.disclosed is disclosed
    assert given.determination_text == text
    if not disclosed:
        assert given.grounds == "privilege"


def test_legal_determination_not_released_is_refused_with_the_release_grounds() -> None:
    kept = decision(
        determination=determination("full"),
        disclosure={
            "answers": {"legal-determination": {"audiences": ["requester"], "grounds": "safety"}}
        },
    )
    refused = answer(kept, None, POLICY, Question.LEGAL_DETERMINATION, Audience.AFFECTED_USER)
    assert not refused.disclosed and refused.grounds == "safety"
    assert refused.determination_text == ""
    told = answer(kept, None, POLICY, Question.LEGAL_DETERMINATION, Audience.REQUESTER)
    assert told.determination_text == "Full text of counsel."


def test_every_question_is_answered_or_refused_for_every_audience() -> None:
    for audience in Audience:
        given = answers(decision(), None, POLICY, audience)
        assert [a.question for a in given] == list(Question)
        assert all(a.disclosed or a.grounds for a in given)


# --- "not disclosed" only for what exists (issue 18) ---------------------------------------------


def test_no_determination_made_is_said_to_be_none_never_withheld() -> None:
    """Nothing to withhold: no legal determination exists, whatever the release says."""
    for audience in Audience:
        given = answer(decision(), None, POLICY, Question.LEGAL_DETERMINATION, audience)
        assert given.disclosed and not given.determination_made, audience
        assert given.grounds == ""


def test_no_evidence_cited_is_said_to_be_none_recorded_never_withheld() -> None:
    bare = decision(evidence=[])
    for audience in Audience:
        for question in (Question.WHERE, Question.PUBLIC_ACTIONS):
            given = answer(bare, None, POLICY, question, audience)
            assert given.disclosed and given.nothing_recorded, (audience, question)
            assert given.places == [] and given.actions == []


def test_existing_evidence_without_a_release_is_still_withheld_with_its_grounds() -> None:
    given = answer(decision(), None, POLICY, Question.PUBLIC_ACTIONS, Audience.FUNCTIONARIES)
    assert not given.nothing_recorded
    withheld = answer(decision(), None, POLICY, Question.WHERE, Audience.PUBLIC)
    assert not withheld.disclosed and withheld.grounds == "no disclosure decision recorded"


def _enforced(changed: Decision) -> ActionEnforced:
    return ActionEnforced(
        case_id="OA-TRUE1",
        decision=changed,
        operations=[
            {"wiki": "sandbox", "kind": "block", "target": "Locked User", "status": "done"}
        ],  # type: ignore[list-item]
        enforced_at=AT,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("language", ["en", "ru"])
def test_every_output_says_none_where_nothing_exists(language: str) -> None:
    """The affected user's email (text and HTML), and the public statement: no "not disclosed"
    for a determination never made or evidence never cited."""
    event = _enforced(decision(evidence=[], language=language))
    env = environment()
    mail = email(env, "affected_user", affected_user_view(event, POLICY), language)
    statement = public_statement(env, public_view(event, POLICY))
    withheld = {"en": "Not disclosed", "ru": "Не раскрывается"}[language]
    none_recorded = {"en": "None recorded", "ru": "не приведено ни одного доказательства"}
    no_determination = {
        "en": "No legal determination was made",
        "ru": "Юридическое заключение по этому делу не выносилось",
    }
    for text in (mail.body, mail.html or ""):
        assert no_determination[language] in text
        assert text.count(none_recorded[language]) == 2  # where, and public actions
    # language expertise and clauses are the only answers left to withhold
    withheld_here = [a for a in affected_user_view(event, POLICY).answers if not a.disclosed]
    assert mail.body.count(withheld) == len(withheld_here)
    assert "'''Legal determination:''' none made" in statement
    assert statement.count("none recorded (the decision cites no evidence)") == 2
    assert statement.count("not disclosed") == sum(
        1 for a in public_view(event, POLICY).answers if not a.disclosed
    )


def test_every_output_states_the_same_wiki_scope() -> None:
    """A global action (no wikis listed) enforced where the farm has wikis: the brief, the
    emails and the statement all say "every wiki"; where it was enforced is said apart."""
    scoped = decision(action_type="global-ban", wikis=[])
    event = _enforced(scoped).model_copy(
        update={
            "operations": [
                _enforced(scoped).operations[0].model_copy(update={"wiki": w})
                for w in ("betawiki", "alphawiki")
            ]
        }
    )
    approved = DecisionApproved(
        case_id="OA-TRUE1",
        decision=scoped,
        signoffs=[signoff("trust-and-safety", ["en"])],
        approved_at=AT,  # type: ignore[arg-type]
    )
    env = environment()
    outputs = {
        "brief": email(
            env, "functionary_brief", functionary_brief_view(approved, POLICY, "alphawiki"), "en"
        ).body,
        "user": email(env, "affected_user", affected_user_view(event, POLICY), "en").body,
        "requester": email(
            env,
            "requester_outcome",
            requester_outcome_view(
                reference="R-1",
                name="Asker",
                language="en",
                outcome="approved",
                decision=scoped,
                signoffs=None,
                action_title="Global ban",
                contact="ca@officeactions.test",
                policy=POLICY,
            ),
            "en",
        ).body,
        "statement": public_statement(env, public_view(event, POLICY)),
    }
    for name, text in outputs.items():
        assert "every wiki" in text, name
    assert "Enforced on: alphawiki, betawiki" in outputs["user"]
    assert "'''Enforced on:''' alphawiki, betawiki" in outputs["statement"]
    ru = email(env, "affected_user", affected_user_view(event, POLICY), "ru").body
    assert "все вики" in ru and "Применено в: alphawiki, betawiki" in ru

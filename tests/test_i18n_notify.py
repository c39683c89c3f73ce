"""Every audience reads the policy's own words in its language (issue 18 §3): the action
title, the sign-off level titles, the clause catalogue and the standard refusal grounds.

The walk over the Russian templates renders each with Russian views built from a decision
citing every clause of the catalogue, signed at every level, with both standard refusals,
and fails on any English string the policy supplies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from casework.contract import (
    ActionEnforced,
    Audience,
    Decision,
    DecisionApproved,
    DecisionReversed,
    Question,
    Requester,
    SignOff,
    SubmissionReceived,
)
from casework.policy import load_policy
from casework.policy.translations import REFUSALS
from services.notify.domain.render import (
    TEMPLATES,
    RenderedEmail,
    email,
    environment,
    public_statement,
    statement_language,
)
from services.notify.domain.views import (
    IncompleteView,
    InquiryAnswerView,
    InquiryView,
    MissingFieldView,
    acknowledgement_view,
    affected_user_view,
    answer,
    functionary_brief_view,
    public_view,
    requester_outcome_view,
    reversal_view,
)
from services.review.domain.decision import clause_ground

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
AT = "2026-11-20T12:00:00+00:00"
ENV = environment()


def _grounds(version: str = POLICY.clauses.version) -> list[dict[str, Any]]:
    return [
        {"id": key, "catalogue_version": version, **clause.model_dump()}
        for key, clause in POLICY.clauses.items.items()
    ]


UNDECIDED = REFUSALS["no-disclosure-decision"]
# The places released to nobody without grounds; the rest as the contract's default plan.
PLAN = {
    "answers": {
        q.value: {"audiences": [], "grounds": "" if q is Question.WHERE else UNDECIDED}
        for q in Question
    }
}


def decision(action_type: str = "global-ban", **changes: Any) -> Decision:
    """Every clause cited, a legal determination no audience is released (its answer is the
    standard "no disclosure decision recorded"), the places withheld with no grounds (the
    standard "no grounds recorded") from audiences outside the policy's baseline."""
    fields: dict[str, Any] = {
        "action_type": action_type,
        "subject": {"account": "Нарушитель", "email": "u@example.org", "language": "ru"},
        "grounds": _grounds(),
        "public_rationale": "Систематические оскорбления участников.",
        "appealable": True,
        "appeal_until": "2027-11-20T12:00:00+00:00",
        "language": "ru",
        "evidence": [
            {
                "id": "E1",
                "description": "правка",
                "where": "on-wiki-public",
                "audiences": ["public"],
            }
        ],
        "determination": {
            "text": "Заключение юриста.",
            "disclosure": "full",
            "counsel_id": "carol",
            "determined_at": AT,
        },
        "disclosure": PLAN,
    }
    return Decision.model_validate({**fields, **changes})


def signoffs(action_type: str = "global-ban") -> list[SignOff]:
    return [
        SignOff(
            level=level,
            staff_id=f"s{i}",
            verdict="approve",
            comment="ok",
            languages=["ru"],
            signed_at=AT,  # type: ignore[arg-type]
        )
        for i, level in enumerate(POLICY.action(action_type).signoff)
    ]


def enforced(changed: Decision) -> ActionEnforced:
    return ActionEnforced(
        case_id="OA-RU1",
        decision=changed,
        operations=[{"wiki": "sandbox", "kind": "block", "target": "x", "status": "done"}],  # type: ignore[list-item]
        enforced_at=AT,  # type: ignore[arg-type]
    )


def approved(changed: Decision) -> DecisionApproved:
    return DecisionApproved(
        case_id="OA-RU1",
        decision=changed,
        signoffs=signoffs(changed.action_type),
        approved_at=AT,  # type: ignore[arg-type]
    )


REQUESTER = Requester(name="Ирина", email="irina@example.org", language="ru")


def english_policy_strings() -> dict[str, str]:
    """Every string the policy supplies in English, named by its key."""
    found = {f"refusals.{k}": v for k, v in REFUSALS.items()}
    for key, action in POLICY.action_types.items():
        found[f"action_types.{key}.title"] = action.title
    for key, level in POLICY.signoff_levels.items():
        found[f"signoff_levels.{key}.title"] = level.title
    for key, clause in POLICY.clauses.items.items():
        for field in ("source", "section", "text"):
            found[f"clauses.{key}.{field}"] = getattr(clause, field)
    return found


def squash(text: str) -> str:
    return " ".join(text.split())


# --- the views ----------------------------------------------------------------------------------


def test_the_affected_users_view_is_in_their_language() -> None:
    view = affected_user_view(enforced(decision()), POLICY, signoffs())
    assert view.action_title == "Глобальный бан"
    by_question = {a.question: a for a in view.answers}
    [first, *_] = by_question[Question.CLAUSES].clauses
    assert first.source == POLICY.text("ru", "clauses", first.id, "source") != "Terms of Use"
    assert first.text == POLICY.text("ru", "clauses", first.id, "text")
    fluent = by_question[Question.LANGUAGE_EXPERTISE].fluent_levels
    assert fluent == [
        POLICY.text("ru", "signoff_levels", lv)
        for lv in ("case-handler", "ts-manager", "legal-counsel", "director")
    ]
    assert "Директор" in fluent
    legal = by_question[Question.LEGAL_DETERMINATION]
    assert not legal.disclosed and legal.grounds == "решение о раскрытии не принималось"


def test_the_standard_refusals_are_said_in_the_audiences_language() -> None:
    plain = decision()
    where = answer(plain, None, POLICY, Question.WHERE, Audience.PUBLIC, "ru")
    assert where.grounds == POLICY.text("ru", "refusals", "no-grounds") == "основания не указаны"
    clauses = answer(plain, None, POLICY, Question.CLAUSES, Audience.LEGAL_PRIVILEGED, "ru")
    assert clauses.disclosed
    default = answer(plain, None, POLICY, Question.PUBLIC_ACTIONS, Audience.PUBLIC, "ru")
    assert default.disclosed  # public items are everyone's
    undecided = decision(disclosure={})  # the contract's default plan
    withheld = answer(undecided, None, POLICY, Question.WHERE, Audience.PUBLIC, "ru")
    assert withheld.grounds == "решение о раскрытии не принималось"
    # Grounds someone wrote are theirs, as written; English keeps the English default.
    written = decision(disclosure={"answers": {"where": {"audiences": [], "grounds": "тайна"}}})
    assert answer(written, None, POLICY, Question.WHERE, Audience.PUBLIC, "ru").grounds == "тайна"
    english = answer(undecided, None, POLICY, Question.WHERE, Audience.PUBLIC)
    assert english.grounds == "no disclosure decision recorded"


def test_a_clause_of_an_older_catalogue_keeps_its_snapshot() -> None:
    """The translation is of the current catalogue; an older clause may have said otherwise."""
    old = decision(grounds=_grounds(version="2025-01"))
    given = answer(old, None, POLICY, Question.CLAUSES, Audience.AFFECTED_USER, "ru")
    assert [c.text for c in given.clauses] == [g.text for g in old.grounds]
    current = answer(decision(), None, POLICY, Question.CLAUSES, Audience.AFFECTED_USER, "ru")
    assert [c.text for c in current.clauses] != [g.text for g in old.grounds]


def test_the_functionary_brief_is_in_the_listings_language() -> None:
    ru = functionary_brief_view(approved(decision()), POLICY, "sandbox", "ru")
    en = functionary_brief_view(approved(decision()), POLICY, "sandbox", "en")
    assert (ru.action_title, en.action_title) == ("Глобальный бан", "Global ban")


def test_a_language_without_translations_reads_the_decisions_english() -> None:
    view = requester_outcome_view(
        reference="R-1",
        name="Jan",
        language="pl",
        outcome="approved",
        decision=decision(),
        signoffs=signoffs(),
        action_title=POLICY.text("pl", "action_types", "global-ban"),
        contact="ca@officeactions.test",
        policy=POLICY,
    )
    assert view.action_title == "Global ban"
    [clauses] = [a for a in view.answers if a.question is Question.CLAUSES]
    assert clauses.clauses[0].source == "Terms of Use"


# --- every Russian template ---------------------------------------------------------------------


def received(action_type: str) -> SubmissionReceived:
    return SubmissionReceived(
        submission_id="R-RU1",
        kind="request",  # type: ignore[arg-type]
        channel="form",  # type: ignore[arg-type]
        action_type=action_type,
        routed_to=POLICY.action(action_type).routed_to,
        summary="Прошу принять меры.",
        requester=REQUESTER,
        received_at=AT,  # type: ignore[arg-type]
    )


def russian_emails(action_type: str, changed: Decision) -> Iterator[tuple[str, RenderedEmail]]:
    """Every email kind rendered from a Russian view, the way notify builds it."""
    event = enforced(changed)
    yield (
        "affected_user",
        email(ENV, "affected_user", affected_user_view(event, POLICY, signoffs(action_type)), "ru"),
    )
    brief = functionary_brief_view(approved(changed), POLICY, "sandbox", "ru")
    yield "functionary_brief", email(ENV, "functionary_brief", brief, "ru")
    for outcome, given in (("approved", changed), ("declined", None)):
        outcome_view = requester_outcome_view(
            reference="R-RU1",
            name=REQUESTER.name,
            language="ru",
            outcome=outcome,
            decision=given,
            signoffs=signoffs(action_type),
            action_title=POLICY.text("ru", "action_types", action_type),
            contact="ca@officeactions.test",
            policy=POLICY,
        )
        yield "requester_outcome", email(ENV, "requester_outcome", outcome_view, "ru")
    ack = acknowledgement_view(received(action_type), REQUESTER, POLICY)
    yield "requester_ack", email(ENV, "requester_ack", ack, "ru")
    reversed_ = DecisionReversed(
        case_id="OA-RU1",
        decision=changed,
        reason="Ошибка в установлении личности.",
        reversed_by="s1",
        grounds="error",
        reversed_at=AT,  # type: ignore[arg-type]
    )
    yield "reversal", email(ENV, "reversal", reversal_view(reversed_, POLICY), "ru")
    missing = [MissingFieldView(field="summary", message="опишите, что произошло")]
    incomplete = IncompleteView(reference="R-RU1", name="Ирина", language="ru", missing=missing)
    yield "requester_incomplete", email(ENV, "requester_incomplete", incomplete, "ru")
    inquiry = InquiryView(
        case_id="OA-RU2",
        about_case_id="OA-RU1",
        name="Ирина",
        language="ru",
        answers=[InquiryAnswerView(question="Почему?", outcome="answered", text="Потому что.")],
        contact_address="ca@officeactions.test",
    )
    yield "inquiry_answer", email(ENV, "inquiry_answer", inquiry, "ru")


def _russian_kinds() -> set[str]:
    return {p.name.split(".")[0] for p in TEMPLATES.glob("*.ru.*") if not p.name.startswith("_")}


def snapshotted(action_type: str) -> Decision:
    """The decision as review drafts it today: every clause in every language of the policy."""
    grounds = [clause_ground(POLICY, key) for key in POLICY.clauses.items]
    assert all(set(g.translations) == {"ru"} for g in grounds)
    return decision(action_type, grounds=[g.model_dump() for g in grounds])


@pytest.mark.parametrize("snapshot", [False, True], ids=["without-snapshot", "snapshot"])
@pytest.mark.parametrize("action_type", sorted(POLICY.action_types))
def test_no_russian_email_carries_an_english_policy_string(
    action_type: str, snapshot: bool
) -> None:
    english = english_policy_strings()
    seen: set[str] = set()
    changed = snapshotted(action_type) if snapshot else decision(action_type)
    for kind, mail in russian_emails(action_type, changed):
        seen.add(kind)
        assert mail.language == "ru", kind
        for part, text in (("subject", mail.subject), ("body", mail.body), ("html", mail.html)):
            flat = squash(text)
            leaked = [key for key, value in english.items() if squash(value) in flat]
            assert not leaked, f"{kind} {part}: English policy strings {leaked}"
    russian = bilingual_statement(changed).split("=== Русский ===")[1]
    leaked = [key for key, value in english.items() if squash(value) in squash(russian)]
    assert not leaked, f"public_statement, Russian part: English policy strings {leaked}"
    seen.add("public_statement")
    # Every Russian template was walked (a new one must be added above).
    assert seen == _russian_kinds()


def test_the_walk_sees_the_policys_russian_words() -> None:
    """So that the walk above can fail: the strings it looks for are really rendered."""
    rendered = list(russian_emails("global-ban", decision()))
    mails = dict(reversed(rendered))  # the first of a kind: the approved outcome
    user = squash(mails["affected_user"].body)
    for key in POLICY.clauses.items:
        for field in ("source", "section", "text"):
            assert squash(POLICY.text("ru", "clauses", key, field)) in user
    assert "Глобальный бан" in user and "Директор" in user
    assert "решение о раскрытии не принималось" in user  # the determination, undecided
    requester = squash(mails["requester_outcome"].body)
    assert "основания не указаны" in requester  # the places, withheld without grounds
    assert "решение о раскрытии не принималось" in requester
    assert "Глобальный бан" in mails["requester_ack"].body
    assert "Глобальный бан" in mails["affected_user"].html
    # The English emails carry the English originals, as before.
    english = email(
        ENV,
        "affected_user",
        affected_user_view(
            enforced(
                decision(subject={"account": "U", "email": "u@example.org", "language": "en"})
            ),
            POLICY,
            signoffs(),
        ),
        "en",
    )
    assert "Global ban" in english.body and "Terms of Use" in english.body


# --- the public statement of a case in another language ----------------------------------------


def bilingual_statement(changed: Decision) -> str:
    event = enforced(changed)
    language = statement_language(ENV, changed.language)
    assert language == "ru"
    english = public_view(event, POLICY, signoffs(changed.action_type))
    translated = public_view(event, POLICY, signoffs(changed.action_type), language)
    return public_statement(ENV, english, (language, translated))


def test_a_russian_cases_statement_is_english_then_russian() -> None:
    statement = bilingual_statement(decision())
    heading, rest = statement.split("=== English ===\n")
    assert heading.startswith("== OA-RU1: Global ban — ")
    assert "<!-- casework:OA-RU1 -->" in heading
    english, russian = rest.split("=== Русский ===\n")
    assert "'''Action:''' Global ban" in english and "Terms of Use" in english
    assert "no disclosure decision recorded" in english
    assert "'''Действие:''' Глобальный бан" in russian
    assert "Универсальный кодекс поведения" in russian and "Директор" in russian
    assert "решение о раскрытии не принималось" in russian
    # Each answer is in both parts, withheld in both or in neither.
    assert english.count("not disclosed") == russian.count("не раскрыва") > 0


def test_an_english_cases_statement_stays_as_it_was() -> None:
    event = enforced(decision(language="en"))
    assert statement_language(ENV, "en") is None and statement_language(ENV, "en-GB") is None
    assert statement_language(ENV, "xx") is None  # no statement template: English only
    statement = public_statement(ENV, public_view(event, POLICY, signoffs()))
    assert "===" not in statement and "Русский" not in statement
    assert statement.startswith("== OA-RU1: Global ban — ")
    assert "'''Action:''' Global ban" in statement


def test_every_language_the_policy_declares_has_every_template() -> None:
    """Else its outputs would mix: the policy's words in the language, the frame in English
    (a template missing falls back to English)."""
    english = {p.name.split(".")[0] for p in TEMPLATES.glob("*.en.txt.j2")}
    for language in POLICY.languages:
        given = {p.name.split(".")[0] for p in TEMPLATES.glob(f"*.{language}.txt.j2")}
        # ops alerts go to the operator's staff, in English only.
        assert english - given <= {"ops_alert"}, language
        if language != "en":
            assert statement_language(ENV, language) == language

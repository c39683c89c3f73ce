"""A decision keeps every language's clause text as it stood when drafted (issue 18 §3).

Review snapshots the clause in English and in each other language the policy declares;
both services' stores keep the snapshot (SQLite and the nx-27017 Mongo server); notify
renders each audience's clauses from it. So a later edit of the catalogue's Russian text,
under the same catalogue version or a newer one, or the Russian translation removed from
the policy, never changes what an old decision says in the Russian email or statement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from casework.contract import Audience, ClauseGround, Decision, Question
from casework.contract.decision import ClauseText
from casework.policy import Policy
from casework.store import DocumentStore
from services.enforcement.adapters import stored as enforcement_stored
from services.enforcement.adapters.store import ENFORCEMENTS
from services.notify.domain.answers import clause_view
from services.notify.domain.render import email, public_statement
from services.notify.domain.views import affected_user_view, answer, public_view
from services.review.adapters import stored as review_stored
from services.review.domain.decision import clause_ground
from services.review.usecases.base import CASES
from tests.fixtures.stores import nx27017, store  # noqa: F401
from tests.test_enforcement_domain import planned
from tests.test_i18n_notify import ENV, enforced, signoffs, squash
from tests.test_i18n_notify import decision as russian_decision
from tests.test_review_domain import drafted

ROOT = Path(__file__).resolve().parent.parent
RAW: dict[str, Any] = yaml.safe_load(
    (ROOT / "policy" / "office-actions.yaml").read_text(encoding="utf-8")
)
POLICY = Policy.model_validate(RAW)
CITED = ("ucoc-3-1", "tou-4-harassment")  # what tests.test_review_domain's form cites
EDITED = "ИЗМЕНЁННЫЙ ТЕКСТ"


def policy_with(
    *, ru_text: str | None = None, version: str | None = None, ru: bool = True
) -> Policy:
    """The shipped policy with every cited clause's Russian section and text replaced by
    ``ru_text``, the catalogue at ``version``, or (``ru=False``) without Russian at all."""
    raw = yaml.safe_load(yaml.safe_dump(RAW, allow_unicode=True))
    if version is not None:
        raw["clauses"]["version"] = version
    if ru_text is not None:
        for key in CITED:
            clause = raw["translations"]["ru"]["clauses"][key]
            clause["section"] = f"{ru_text} §{key}"
            clause["text"] = f"{ru_text} ({key})"
    if not ru:
        raw["languages"] = [x for x in raw["languages"] if x != "ru"]
        raw["translations"].pop("ru")
    return Policy.model_validate(raw)


def drafted_decision() -> Decision:
    case = drafted()
    assert case.decision is not None
    return case.decision


def russian_texts(policy: Policy, field: str = "text") -> list[str]:
    return [policy.text("ru", "clauses", key, field) for key in CITED]


def russian_outputs(decision: Decision, policy: Policy) -> dict[str, str]:
    """The Russian affected-user email (text and HTML) and the Russian part of the public
    statement, rendered under ``policy`` as notify renders them."""
    event = enforced(decision)
    chain = signoffs(decision.action_type)
    mail = email(ENV, "affected_user", affected_user_view(event, policy, chain), "ru")
    english = public_view(event, policy, chain)
    statement = public_statement(ENV, english, ("ru", public_view(event, policy, chain, "ru")))
    return {
        "email": squash(mail.body),
        "html": squash(mail.html),
        "statement": squash(statement.split("=== Русский ===")[1]),
    }


# --- review: the draft ----------------------------------------------------------------------


def test_a_drafted_decision_carries_every_declared_languages_clause_text() -> None:
    grounds = drafted_decision().grounds
    assert [g.id for g in grounds] == list(CITED)
    for g in grounds:
        assert set(g.translations) == set(POLICY.languages) - {"en"} == {"ru"}
        assert g.translations["ru"] == ClauseText(
            source=POLICY.text("ru", "clauses", g.id, "source"),
            section=POLICY.text("ru", "clauses", g.id, "section"),
            text=POLICY.text("ru", "clauses", g.id, "text"),
        )
        assert g.translations["ru"].text != g.text  # English stays in the ground's own fields
        assert g.text == POLICY.clauses.items[g.id].text


def test_a_policy_in_english_only_snapshots_no_translation() -> None:
    ground = clause_ground(policy_with(ru=False), "ucoc-3-1")
    assert ground.translations == {}
    assert ground.text == POLICY.clauses.items["ucoc-3-1"].text


# --- notify: every output reads the snapshot -------------------------------------------------


@pytest.mark.parametrize(
    "later",
    [
        pytest.param(policy_with(ru_text=EDITED), id="russian-edited-same-version"),
        pytest.param(policy_with(ru_text=EDITED, version="2027-01"), id="newer-catalogue"),
        pytest.param(policy_with(ru=False), id="russian-translation-removed"),
    ],
)
def test_an_old_decision_says_in_russian_what_it_said_when_drafted(later: Policy) -> None:
    decision = drafted_decision()
    for where, text in russian_outputs(decision, later).items():
        # The emails give each clause's section and text, the statement its section.
        shown = ("section", "text") if where != "statement" else ("section",)
        for field in shown:
            for said in russian_texts(POLICY, field):
                assert squash(said) in text, (where, field)
            for key in CITED:  # nor the English original in place of the Russian one
                english = getattr(POLICY.clauses.items[key], field)
                assert squash(english) not in text, (where, field)
        assert EDITED not in text, where


def test_the_edited_translation_is_what_a_new_decision_says() -> None:
    """So the test above can fail: the edited policy's own drafts carry the edited text."""
    later = policy_with(ru_text=EDITED)
    fresh = drafted_decision().model_copy(
        update={"grounds": [clause_ground(later, key) for key in CITED]}
    )
    for where, text in russian_outputs(fresh, later).items():
        assert f"{EDITED} §ucoc-3-1" in text, where
        if where != "statement":
            assert f"{EDITED} (ucoc-3-1)" in text, where


def test_the_snapshot_answers_a_regional_tag_and_english_reads_the_original() -> None:
    decision = drafted_decision()
    later = policy_with(ru_text=EDITED)
    [ground, *_] = decision.grounds
    assert clause_view(ground, later, "ru-RU").text == ground.translations["ru"].text
    english = answer(decision, None, later, Question.CLAUSES, Audience.AFFECTED_USER, "en")
    assert [c.text for c in english.clauses] == [g.text for g in decision.grounds]


def test_a_decision_without_snapshot_reads_the_current_catalogue_only_at_its_version() -> None:
    """Decisions drafted before the snapshot was kept: the current translation while it is
    the same catalogue version, the English snapshot after."""
    old = russian_decision()
    assert all(g.translations == {} for g in old.grounds)
    same = answer(old, None, POLICY, Question.CLAUSES, Audience.AFFECTED_USER, "ru")
    assert [c.text for c in same.clauses] == [
        POLICY.text("ru", "clauses", g.id, "text") for g in old.grounds
    ]
    newer = policy_with(version="2027-01")
    moved = answer(old, None, newer, Question.CLAUSES, Audience.AFFECTED_USER, "ru")
    assert [c.text for c in moved.clauses] == [g.text for g in old.grounds]


# --- the stores keep it -------------------------------------------------------------------------


async def test_the_stored_case_keeps_every_languages_clause_text(store: DocumentStore) -> None:
    case = drafted()
    assert case.decision is not None
    await store.insert(CASES, review_stored.to_document(case))
    doc = await store.get(CASES, case.id)
    assert doc is not None
    loaded = review_stored.from_document(doc)
    assert loaded == case
    assert loaded.decision is not None
    assert loaded.decision.grounds == case.decision.grounds
    assert loaded.decision.grounds[0].translations["ru"].text == russian_texts(POLICY)[0]


async def test_the_stored_enforcement_keeps_every_languages_clause_text(
    store: DocumentStore,
) -> None:
    grounds: list[ClauseGround] = [clause_ground(POLICY, key) for key in CITED]
    record = planned(grounds=grounds)
    await store.insert(ENFORCEMENTS, enforcement_stored.to_document(record))
    doc = await store.get(ENFORCEMENTS, record.case_id)
    assert doc is not None
    loaded = enforcement_stored.from_document(doc)
    assert loaded == record
    assert [g.translations for g in loaded.decision.grounds] == [g.translations for g in grounds]
    assert loaded.decision.grounds[0].translations["ru"].text == russian_texts(POLICY)[0]

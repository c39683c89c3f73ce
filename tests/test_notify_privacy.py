"""Privacy is structural: each output is rendered from an audience view, never from the event.

Generated ActionEnforced events carry a marker string in every private place (the affected
user's address, operation details, and unknown fields such as a requester block that a newer
producer might add). No rendered output may ever contain it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from casework.contract import ActionEnforced
from casework.policy import load_policy
from services.notify.render import affected_user_email, environment, public_statement
from services.notify.views import AffectedUserView, PublicView, affected_user_view, public_view

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
ENV = environment()
MARK = "zqprivatezq"
CASE = "OA-ABCDEFGH2345"
ACCOUNT = "Troublesome Editor"
EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Sample:
    event: ActionEnforced

    @property
    def public_inputs(self) -> list[str]:
        decision = self.event.decision
        return [decision.subject.account, decision.public_rationale, *decision.wikis]


def squash(text: str) -> str:
    """Text without whitespace: templates wrap and indent long values."""
    return "".join(ch for ch in text if not ch.isspace())


def ground(clause_id: str) -> dict[str, Any]:
    """A decision ground as the catalogue words the clause."""
    clause = POLICY.clauses.items[clause_id]
    return {"id": clause_id, "catalogue_version": POLICY.clauses.version, **clause.model_dump()}


def team_address(action_type: str) -> str:
    return POLICY.teams[POLICY.action(action_type).routed_to].address


def utc_date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- generating enforced actions --------------------------------------------------------------

accounts = st.text(
    alphabet=st.characters(exclude_characters="#<>[]|{}/@:", exclude_categories=["Cs", "Cc"]),
    min_size=1,
    max_size=40,
)
rationales = st.text(min_size=1, max_size=400)
times = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
wiki_ids = st.lists(st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True), max_size=3, unique=True)


@st.composite
def samples(draw: st.DrawFn) -> Sample:
    marker = MARK + draw(st.text(alphabet="abcdef0123456789", min_size=4, max_size=8))
    account = draw(accounts)
    wikis = draw(wiki_ids)
    appealable = draw(st.booleans())
    grounds = draw(
        st.lists(st.sampled_from(sorted(POLICY.clauses.items)), min_size=1, max_size=4, unique=True)
    )
    raw: dict[str, Any] = {
        "case_id": CASE,
        "enforced_at": draw(times).isoformat(),
        "decision": {
            "action_type": draw(st.sampled_from(sorted(POLICY.action_types))),
            "subject": {
                "account": account,
                "email": f"{marker}.user@{marker}-mail.example",
                "language": draw(st.sampled_from(["en", "ru", "de", "ru-RU"])),
                "phone": f"+1 555 {marker}",
            },
            "wikis": wikis,
            "expires_at": draw(st.none() | times.map(datetime.isoformat)),
            "grounds": [ground(g) for g in grounds],
            "public_rationale": draw(rationales),
            "appealable": appealable,
            "appeal_until": draw(times).isoformat() if appealable and draw(st.booleans()) else None,
            "private_rationale": f"staff only: {marker}",
            "evidence": [
                {
                    "id": "E1",
                    "description": f"private {marker}",
                    "url": f"https://private.example/{marker}",
                    "where": "off-wiki-private",
                }
            ],
        },
        "operations": [
            {
                "wiki": wiki,
                "kind": "block",
                "target": account,
                "status": draw(st.sampled_from(["done", "skipped"])),
                "result_id": draw(st.integers(min_value=1, max_value=10**9)),
                "detail": f"already blocked by {marker}",
            }
            for wiki in wikis
        ],
        "requester": {"name": f"Reporter {marker}", "email": f"{marker}@requester.example"},
        "signoffs": [{"staff_id": f"staff-{marker}", "comment": f"private {marker}"}],
    }
    sample = Sample(ActionEnforced.model_validate(raw))
    assume(not any(MARK in text for text in sample.public_inputs))
    return sample


# --- the views --------------------------------------------------------------------------------


def test_public_view_has_no_private_field() -> None:
    fields = set(PublicView.model_fields)
    assert not {f for f in fields if any(w in f for w in ("email", "requester", "address"))}
    assert "language" not in fields
    assert "appeal_until" not in fields


def test_affected_user_view_adds_only_what_the_user_needs() -> None:
    added = set(AffectedUserView.model_fields) - set(PublicView.model_fields)
    assert added == {"language", "appeal_until", "contact_address"}


def test_the_event_carries_no_requester() -> None:
    assert not {f for f in ActionEnforced.model_fields if "requester" in f}


# --- the outputs ------------------------------------------------------------------------------


@EXAMPLES
@given(samples())
def test_public_statement_never_shows_a_private_value(sample: Sample) -> None:
    event = sample.event
    assert event.decision.subject.email is not None
    assert MARK in event.decision.subject.email  # the secret is really in the event
    assert all(MARK in op.detail for op in event.operations)
    statement = public_statement(ENV, public_view(event, POLICY))
    assert MARK not in statement
    assert event.decision.subject.email not in statement
    assert CASE in statement
    assert f"[[User:{event.decision.subject.account}|" in statement
    rationale = html.escape(event.decision.public_rationale, quote=False)
    assert f"<nowiki>{rationale}</nowiki>" in statement
    for ground in event.decision.grounds:
        assert ground.section in statement
        assert ground.id in statement
    for op in event.operations:
        assert op.wiki in statement


@EXAMPLES
@given(samples(), st.sampled_from(["en", "ru", "ru-RU", "xx", "de", "pt-BR"]))
def test_affected_user_email(sample: Sample, language: str) -> None:
    event = sample.event
    decision = event.decision
    view = affected_user_view(event, POLICY).model_copy(update={"language": language})
    email = affected_user_email(ENV, view)
    expected_language = "ru" if language.startswith("ru") else "en"
    assert email.language == expected_language
    assert MARK not in email.subject
    assert MARK not in email.body
    assert CASE in email.subject
    assert CASE in email.body
    body = squash(email.body)
    for ground in decision.grounds:
        assert ground.section in email.body
        assert squash(ground.text) in body
    assert squash(decision.public_rationale) in body
    assert view.contact_address == team_address(decision.action_type)
    assert view.contact_address in email.body
    if decision.expires_at is None:
        assert ("бессрочно" if expected_language == "ru" else "indefinitely") in email.body
    else:
        assert utc_date(decision.expires_at) in email.body
    if decision.appealable and decision.appeal_until is not None:
        assert utc_date(decision.appeal_until) in email.body
    if not decision.appealable:
        final = "обжалованию не подлежит" if expected_language == "ru" else "cannot be appealed"
        assert final in email.body


# --- worked examples --------------------------------------------------------------------------


def _event(**decision: Any) -> ActionEnforced:
    fields: dict[str, Any] = {
        "action_type": "global-ban",
        "subject": {"account": ACCOUNT, "email": "te@example.org", "language": "en"},
        "grounds": [ground("ucoc-3-1")],
        "public_rationale": "Sustained cross-wiki harassment.",
        "appealable": True,
        "appeal_until": "2027-11-20T12:00:00+00:00",
    }
    return ActionEnforced.model_validate(
        {
            "case_id": CASE,
            "decision": {**fields, **decision},
            "operations": [
                {"wiki": "enwiki", "kind": "block", "target": ACCOUNT, "status": "done"}
            ],
            "enforced_at": "2026-11-20T12:00:00+00:00",
        }
    )


def test_injection_in_the_rationale_renders_inert() -> None:
    hostile = "Harassment. </nowiki>{{Template}}[[Link]]<script>alert(1)</script> & more"
    rendered = public_statement(ENV, public_view(_event(public_rationale=hostile), POLICY))
    [statement] = [line for line in rendered.splitlines() if "Rationale" in line]
    assert statement.count("<nowiki>") == 1
    assert statement.count("</nowiki>") == 1
    assert "<script>" not in statement
    start = statement.index("<nowiki>") + len("<nowiki>")
    inside = statement[start : statement.index("</nowiki>")]
    assert inside == (
        "Harassment. &lt;/nowiki&gt;{{Template}}[[Link]]&lt;script&gt;alert(1)"
        "&lt;/script&gt; &amp; more"
    )
    assert "{{Template}}" not in statement.replace(inside, "")


@pytest.mark.parametrize(
    ("language", "indefinite", "until"),
    [("en", "indefinitely", "until 2027-11-20 12:00 UTC"), ("ru", "бессрочно", "до 2027-11-20")],
)
def test_affected_user_email_worked_example(language: str, indefinite: str, until: str) -> None:
    event = _event(subject={"account": ACCOUNT, "language": language})
    email = affected_user_email(ENV, affected_user_view(event, POLICY))
    assert email.language == language
    assert indefinite in email.body
    assert until in email.body
    assert "ca@officeactions.test" in email.body
    assert ACCOUNT in email.subject


def test_public_statement_says_indefinite_or_the_date() -> None:
    forever = public_statement(ENV, public_view(_event(), POLICY))
    assert "'''Until:''' indefinite" in forever
    dated = public_statement(
        ENV, public_view(_event(expires_at="2027-03-01T00:00:00+01:00"), POLICY)
    )
    assert "'''Until:''' 2027-02-28 23:00 UTC" in dated

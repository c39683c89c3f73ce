"""Privacy is structural: each output is rendered from an audience view, never from the event.

Generated decisions carry unique marker strings in every private place: the
requester's identity, the affected user's address, staff-only evidence,
sign-off comments and staff ids, operation details, unknown fields a newer
producer might add, counsel's withheld text, and evidence or answers released
only to one audience. Every output is rendered (no I/O) and searched: a
marker may appear only in the outputs of the audiences it was released to.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from casework import wikitext
from casework.contract import ActionEnforced, Audience, DecisionApproved, Question
from casework.policy import load_policy
from services.notify.domain import dsa, lumen
from services.notify.domain.render import affected_user_email, email, environment, public_statement
from services.notify.domain.views import (
    AffectedUserView,
    CaseFacts,
    PublicView,
    affected_user_view,
    functionary_brief_view,
    public_view,
    requester_outcome_view,
)

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
ENV = environment()
MARK = "zqprivatezq"
CASE = "OA-ABCDEFGH2345"
ACCOUNT = "Troublesome Editor"
RELEASABLE = [Audience.PUBLIC, Audience.AFFECTED_USER, Audience.REQUESTER, Audience.FUNCTIONARIES]
EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LEAK_EXAMPLES = settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


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


# --- generating decisions ------------------------------------------------------------------------

accounts = st.text(
    alphabet=st.characters(exclude_characters="#<>[]|{}/@:~", exclude_categories=["Cs", "Cc"]),
    min_size=1,
    max_size=40,
)
rationales = st.text(min_size=1, max_size=400)
times = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2037, 1, 1), timezones=st.just(UTC)
)
wiki_ids = st.lists(st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True), max_size=3, unique=True)
audience_sets = st.lists(st.sampled_from(RELEASABLE), max_size=3, unique=True)


@dataclass
class Sample:
    """A generated case and, per marker, the audiences allowed to see it."""

    approved: DecisionApproved
    enforced: ActionEnforced
    allowed: dict[str, set[Audience]] = field(default_factory=dict)

    @property
    def public_inputs(self) -> list[str]:
        decision = self.enforced.decision
        return [decision.subject.account, decision.public_rationale, *decision.wikis]


def _hex(draw: st.DrawFn) -> str:
    return draw(st.text(alphabet="abcdef0123456789", min_size=6, max_size=6))


@st.composite
def samples(draw: st.DrawFn) -> Sample:
    tag = _hex(draw)
    allowed: dict[str, set[Audience]] = {}

    def marker(name: str, audiences: set[Audience]) -> str:
        value = f"{MARK}{name}{tag}"
        allowed[value] = audiences
        return value

    staff = marker("staff", set())
    requester_id = marker("requester", {Audience.REQUESTER})
    user_address = marker("useraddr", set())
    account = draw(accounts)
    wikis = draw(wiki_ids)
    action_type = draw(st.sampled_from(sorted(POLICY.action_types)))
    appealable = draw(st.booleans())
    grounds = draw(
        st.lists(st.sampled_from(sorted(POLICY.clauses.items)), min_size=1, max_size=4, unique=True)
    )
    evidence = []
    for i in range(draw(st.integers(min_value=0, max_value=4))):
        audiences = set(draw(audience_sets))
        # Public items are everyone's; the marker then may appear anywhere.
        seen_by = set(RELEASABLE) if Audience.PUBLIC in audiences else audiences
        secret = marker(f"ev{i}x", seen_by)
        evidence.append(
            {
                "id": f"E{i}",
                "description": f"item {secret}",
                "url": f"https://evidence.example/{secret}",
                "where": draw(
                    st.sampled_from(
                        [
                            "on-wiki-public",
                            "on-wiki-private",
                            "off-wiki-public",
                            "off-wiki-private",
                            "in-person",
                        ]
                    )
                ),
                "audiences": sorted(audiences),
            }
        )
    releases: dict[str, Any] = {}
    for question in Question:
        audiences = set(draw(audience_sets))
        releases[question.value] = {"audiences": sorted(audiences), "grounds": "safety of others"}
    legal_release = set(releases[Question.LEGAL_DETERMINATION.value]["audiences"]) | set(
        POLICY.notify.baseline.get(Question.LEGAL_DETERMINATION, [])
    )
    legal_seen = set(RELEASABLE) if Audience.PUBLIC in legal_release else legal_release
    disclosure = draw(st.sampled_from(["full", "redacted", "withheld", None]))
    determination = None
    if disclosure is not None:
        full_text = marker("legaltext", legal_seen if disclosure == "full" else set())
        redacted = marker("legalredacted", legal_seen if disclosure == "redacted" else set())
        determination = {
            "text": f"Counsel finds {full_text}",
            "disclosure": disclosure,
            "redacted_text": f"Counsel finds [redacted] {redacted}",
            "grounds": "legal privilege",
            "counsel_id": staff,
            "determined_at": draw(times).isoformat(),
        }
    decision: dict[str, Any] = {
        "action_type": action_type,
        "subject": {
            "account": account,
            "email": f"{user_address}@{tag}-mail.example",
            "language": draw(st.sampled_from(["en", "ru", "de", "ru-RU"])),
            "phone": f"+1 555 {staff}",
        },
        "wikis": wikis,
        "expires_at": draw(st.none() | times.map(datetime.isoformat)),
        "grounds": [ground(g) for g in grounds],
        "public_rationale": draw(rationales),
        "appealable": appealable,
        "appeal_until": draw(times).isoformat() if appealable and draw(st.booleans()) else None,
        "private_rationale": f"staff only: {staff}",
        "language": draw(st.sampled_from(["en", "ru", "de"])),
        "revision": draw(st.integers(min_value=1, max_value=5)),
        "evidence": evidence,
        "determination": determination,
        "disclosure": {
            "public_statement": draw(st.booleans()),
            "confidential_grounds": "protects a person at risk",
            "answers": releases,
        },
    }
    if action_type in ("dmca-takedown", "child-protection", "office-page-protection"):
        decision["content"] = {
            "pages": [{"wiki": "enwiki", "title": "Some page", "removal": "delete"}]
        }
    signoffs = [
        {
            "level": level,
            "staff_id": f"{staff}-{n}",
            "verdict": "approve",
            "comment": f"looks fine {staff}",
            "languages": draw(
                st.lists(st.sampled_from(["en", "ru", "de"]), min_size=1, max_size=2)
            ),
            "signed_at": draw(times).isoformat(),
        }
        for n, level in enumerate(POLICY.action(action_type).signoff)
    ]
    at = draw(times).isoformat()
    approved = DecisionApproved.model_validate(
        {
            "case_id": CASE,
            "decision": decision,
            "signoffs": signoffs,
            "approved_at": at,
            "requester": {
                "name": f"Reporter {requester_id}",
                "email": f"{requester_id}@req.example",
            },
        }
    )
    enforced = ActionEnforced.model_validate(
        {
            "case_id": CASE,
            "enforced_at": at,
            "decision": decision,
            "operations": [
                {
                    "wiki": wiki,
                    "kind": "block",
                    "target": account,
                    "status": draw(st.sampled_from(["done", "skipped"])),
                    "result_id": draw(st.integers(min_value=1, max_value=10**9)),
                    "detail": f"already blocked by {staff}",
                }
                for wiki in wikis
            ],
            "requester": {"name": f"Reporter {requester_id}", "email": f"{requester_id}@r.example"},
            "signoffs": signoffs,
        }
    )
    sample = Sample(approved, enforced, allowed)
    assume(not any(MARK in text for text in sample.public_inputs))
    return sample


# --- the views ----------------------------------------------------------------------------------


def test_views_carry_no_private_field() -> None:
    for view in (CaseFacts, PublicView, AffectedUserView):
        fields = set(view.model_fields)
        assert not {f for f in fields if any(w in f for w in ("email", "requester", "staff"))}
    assert "language" not in PublicView.model_fields
    assert "appeal_until" not in PublicView.model_fields


def test_affected_user_view_adds_only_what_the_user_needs() -> None:
    added = set(AffectedUserView.model_fields) - set(PublicView.model_fields)
    assert added == {"language", "appeal_until", "contact_address"}


def test_the_event_carries_no_requester() -> None:
    assert not {f for f in ActionEnforced.model_fields if "requester" in f}


# --- every output, every audience ---------------------------------------------------------------


def outputs(sample: Sample) -> dict[Audience, list[str]]:
    """Every rendered output of the case, by the audience it is for."""
    enforced, approved = sample.enforced, sample.approved
    signoffs = approved.signoffs
    pview = public_view(enforced, POLICY, signoffs)
    public = [public_statement(ENV, pview)]
    mapping = POLICY.notify.dsa.action_types.get(enforced.decision.action_type)
    if mapping is not None:
        statement = dsa.statement_of_reasons(
            pview, mapping, POLICY.notify.dsa, revision=enforced.decision.revision
        )
        public.append(json.dumps(statement, ensure_ascii=False))
    public.append(
        json.dumps(lumen.lumen_notice(pview, page_urls=["https://w.test/x"], recipient="T&S"))
    )
    user = affected_user_email(ENV, affected_user_view(enforced, POLICY, signoffs))
    brief_view = functionary_brief_view(approved, POLICY, "enwiki")
    brief = email(ENV, "functionary_brief", brief_view, "en")
    assert approved.requester is not None
    outcome_view = requester_outcome_view(
        reference="R-ABC",
        name=approved.requester.name,
        language="en",
        outcome="approved",
        decision=approved.decision,
        signoffs=signoffs,
        action_title="t",
        contact="c@x.test",
        policy=POLICY,
    )
    outcome = email(ENV, "requester_outcome", outcome_view, "en")
    return {
        Audience.PUBLIC: public,
        Audience.AFFECTED_USER: [user.subject, user.body, user.html],
        Audience.FUNCTIONARIES: [brief.subject, brief.body, brief.html],
        Audience.REQUESTER: [outcome.subject, outcome.body, outcome.html],
    }


@LEAK_EXAMPLES
@given(samples())
def test_no_marker_reaches_an_audience_it_was_not_released_to(sample: Sample) -> None:
    # The secrets are really in the events the outputs are built from.
    assert sample.enforced.decision.subject.email is not None
    assert MARK in sample.enforced.decision.subject.email
    assert all(MARK in s.comment for s in sample.approved.signoffs)
    rendered = outputs(sample)
    for audience, texts in rendered.items():
        for text in texts:
            unescaped = html.unescape(text)
            for value, allowed in sample.allowed.items():
                if audience not in allowed:
                    assert value not in unescaped, (audience, value)
    # Markers released to an audience do reach it (the test could catch a leak).
    for value, allowed in sample.allowed.items():
        if Audience.PUBLIC in allowed and "ev" in value:
            assert any(value in html.unescape(t) for t in rendered[Audience.PUBLIC][:1])


@EXAMPLES
@given(samples())
def test_public_statement_shows_the_public_facts(sample: Sample) -> None:
    event = sample.enforced
    statement = public_statement(ENV, public_view(event, POLICY, sample.approved.signoffs))
    assert CASE in statement
    assert wikitext.link_to_user(event.decision.subject.account) in statement
    rationale = html.escape(event.decision.public_rationale, quote=False)
    assert f"<nowiki>{rationale}</nowiki>" in statement
    for g in event.decision.grounds:
        assert wikitext.escape(g.section) in statement
        assert wikitext.escape(g.id) in statement
    for op in event.operations:
        assert wikitext.escape(op.wiki) in statement
    assert statement.count("not disclosed") == sum(
        1 for a in public_view(event, POLICY, sample.approved.signoffs).answers if not a.disclosed
    )


@EXAMPLES
@given(samples(), st.sampled_from(["en", "ru", "ru-RU", "xx", "de", "pt-BR"]))
def test_affected_user_email(sample: Sample, language: str) -> None:
    # The view is built for the subject's language (its policy strings are in it).
    original = sample.enforced.decision
    subject = original.subject.model_copy(update={"language": language})
    decision = original.model_copy(update={"subject": subject})
    event = sample.enforced.model_copy(update={"decision": decision})
    view = affected_user_view(event, POLICY, sample.approved.signoffs)
    mail = affected_user_email(ENV, view)
    expected_language = "ru" if language.startswith("ru") else "en"
    assert mail.language == expected_language
    assert CASE in mail.subject
    assert CASE in mail.body
    assert f'lang="{expected_language}"' in mail.html
    body = squash(mail.body)
    for g in decision.grounds:
        # The catalogue's words for the clause in the mail's language (en: the snapshot).
        assert POLICY.text(language, "clauses", g.id, "section") in mail.body
        assert squash(POLICY.text(language, "clauses", g.id, "text")) in body
        if expected_language == "en":
            assert g.section in mail.body
            assert squash(g.text) in body
    assert squash(decision.public_rationale) in body
    assert view.contact_address == team_address(decision.action_type)
    assert view.contact_address in mail.body
    if decision.expires_at is None:
        assert ("бессрочно" if expected_language == "ru" else "indefinitely") in mail.body
    else:
        assert utc_date(decision.expires_at) in mail.body
    if decision.appealable and decision.appeal_until is not None:
        assert utc_date(decision.appeal_until) in mail.body
    if not decision.appealable:
        final = "обжалованию не подлежит" if expected_language == "ru" else "cannot be appealed"
        assert final in mail.body


# --- worked examples ----------------------------------------------------------------------------


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


def test_injection_in_the_html_email_is_escaped() -> None:
    event = _event(public_rationale="<script>alert(1)</script>")
    mail = affected_user_email(ENV, affected_user_view(event, POLICY))
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert "<script>alert(1)</script>" in mail.body  # plain text is not HTML


@pytest.mark.parametrize(
    ("language", "indefinite", "until"),
    [("en", "indefinitely", "until 2027-11-20 12:00 UTC"), ("ru", "бессрочно", "до 2027-11-20")],
)
def test_affected_user_email_worked_example(language: str, indefinite: str, until: str) -> None:
    event = _event(subject={"account": ACCOUNT, "language": language})
    mail = affected_user_email(ENV, affected_user_view(event, POLICY))
    assert mail.language == language
    assert indefinite in mail.body
    assert until in mail.body
    assert "ca@officeactions.test" in mail.body
    assert ACCOUNT in mail.subject


def test_public_statement_says_indefinite_or_the_date() -> None:
    forever = public_statement(ENV, public_view(_event(), POLICY))
    assert "'''Until:''' indefinite" in forever
    dated = public_statement(
        ENV, public_view(_event(expires_at="2027-03-01T00:00:00+01:00"), POLICY)
    )
    assert "'''Until:''' 2027-02-28 23:00 UTC" in dated

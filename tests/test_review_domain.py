"""The case file and its multi-level sign-off, with the real policy and the demo staff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from casework.contract import (
    Channel,
    DecisionApproved,
    DecisionDeclined,
    EvidenceItem,
    EvidenceLocation,
    Requester,
    Subject,
    SubmissionKind,
    SubmissionReceived,
)
from casework.errors import Kind, Rejected
from casework.policy import load_policy
from services.review.adapters.staff_file import load_staff
from services.review.adapters.stored import from_document, to_document
from services.review.domain.case import Case, CaseState
from services.review.domain.decision import DecisionForm, draft_decision
from services.review.domain.opening import open_case
from services.review.domain.signoff import SignOffForm, sign_off
from services.review.domain.staff import StaffDirectoryError, StaffMember

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
STAFF_FILE = ROOT / "deploy" / "demo-staff.yaml"
STAFF = load_staff(STAFF_FILE, POLICY)

RECEIVED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
OPENED = RECEIVED + timedelta(minutes=1)
DRAFTED = RECEIVED + timedelta(hours=1)
REQUESTER_EMAIL = "reporter@example.org"
SUBJECT_ACCOUNT = "Troublesome Editor"
CHAIN = [("alice", "case-handler"), ("bob", "ts-manager"), ("carol", "legal-counsel")]
FULL_CHAIN = [*CHAIN, ("dave", "director")]


# --- helpers ----------------------------------------------------------------------------------


def staff(staff_id: str) -> StaffMember:
    member = STAFF.by_token(f"demo-{staff_id}-token")
    assert member is not None and member.id == staff_id
    return member


def outsider(**fields: Any) -> StaffMember:
    """A staff member who holds every level, with the given fields changed."""
    defaults: dict[str, Any] = {
        "id": "erin",
        "name": "Erin Outsider",
        "email": "erin@officeactions.test",
        "levels": list(POLICY.signoff_levels),
        "languages": ["en"],
        "token_sha256": "0" * 64,
    }
    return StaffMember(**{**defaults, **fields})


def submission(action: str = "global-ban", received_at: datetime = RECEIVED) -> SubmissionReceived:
    return SubmissionReceived(
        submission_id="R-ABCDEFGH2345",
        kind=SubmissionKind.REQUEST,
        channel=Channel.FORM,
        action_type=action,
        routed_to=POLICY.action(action).routed_to,
        summary="Cross-wiki harassment of several editors after local blocks failed.",
        subject=Subject(account=SUBJECT_ACCOUNT),
        evidence=[
            EvidenceItem(
                url="https://en.example.org/wiki/Special:Diff/1",
                description="Threat on a talk page",
                where=EvidenceLocation.ON_WIKI_PUBLIC,
            )
        ],
        prior_attempts=["https://en.example.org/wiki/ANI"],
        requester=Requester(name="Reporter Person", email=REQUESTER_EMAIL),
        received_at=received_at,
    )


def decision_form(**fields: Any) -> DecisionForm:
    defaults: dict[str, Any] = {
        "subject": {"account": SUBJECT_ACCOUNT, "email": "te@example.org", "language": "ru"},
        "grounds": ["ucoc-3-1", "tou-4-harassment"],
        "public_rationale": "Sustained cross-wiki harassment of several editors.",
    }
    return DecisionForm(**{**defaults, **fields})


def opened(action: str = "global-ban") -> Case:
    case, _ = open_case(submission(action), POLICY, OPENED)
    return case


def drafted(action: str = "global-ban", **fields: Any) -> Case:
    return draft_decision(opened(action), decision_form(**fields), staff("alice"), POLICY, DRAFTED)


def sign(
    case: Case,
    who: str | StaffMember,
    level: str,
    verdict: str = "approve",
    at: datetime | None = None,
) -> tuple[Case, list[Any]]:
    member = staff(who) if isinstance(who, str) else who
    form = SignOffForm(level=level, verdict=verdict, comment=f"{member.id}: {verdict}")
    when = at or DRAFTED + timedelta(hours=len(case.signoffs) + 1)
    return sign_off(case, form, member, POLICY, when)


def sign_chain(case: Case, chain: list[tuple[str, str]]) -> tuple[Case, list[Any]]:
    events: list[Any] = []
    for who, level in chain:
        case, events = sign(case, who, level)
    return case, events


def rejected(call: Any, *args: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        call(*args)
    return caught.value


def rules(error: Rejected) -> list[tuple[str, str]]:
    return [(e.field, e.rule) for e in error.errors]


# --- opening a case ---------------------------------------------------------------------------


def test_open_case_derives_the_id_and_the_deadline() -> None:
    case, event = open_case(submission(), POLICY, OPENED)
    assert case.id == "OA-ABCDEFGH2345"
    assert case.state is CaseState.OPEN
    assert case.deadline_at == RECEIVED + timedelta(days=28)
    assert case.routed_to == "support-and-safety"
    assert (event.case_id, event.submission_id) == (case.id, "R-ABCDEFGH2345")
    assert event.deadline_at == case.deadline_at
    assert event.opened_at == OPENED
    assert [e.action for e in case.timeline] == ["case-opened"]


def test_open_case_without_a_policy_deadline() -> None:
    case, event = open_case(submission("conduct-warning"), POLICY, OPENED)
    assert case.deadline_at is None
    assert event.deadline_at is None


def test_open_case_uses_business_days_from_receipt() -> None:
    case, _ = open_case(submission("dmca-takedown"), POLICY, OPENED)
    assert case.deadline_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_case_document_round_trip() -> None:
    case = drafted()
    doc = to_document(case)
    assert doc["_id"] == case.id
    assert from_document(doc) == case


# --- the sign-off chain -----------------------------------------------------------------------


def test_sign_off_before_a_decision_is_drafted() -> None:
    error = rejected(sign, opened(), "alice", "case-handler")
    assert error.kind is Kind.CONFLICT
    assert error.code == "not_awaiting_signoff"


def test_the_full_chain_approves() -> None:
    case = drafted()
    events: list[Any] = []
    for i, (who, level) in enumerate(FULL_CHAIN):
        assert case.next_level(POLICY) == level
        case, events = sign(case, who, level)
        if i < len(FULL_CHAIN) - 1:
            assert events == []
            assert case.state is CaseState.AWAITING_SIGNOFF
    assert case.state is CaseState.APPROVED
    assert case.next_level(POLICY) is None
    assert len(events) == 1
    (approved,) = events
    assert isinstance(approved, DecisionApproved)
    assert approved.case_id == case.id
    assert [(s.staff_id, s.level) for s in approved.signoffs] == FULL_CHAIN
    assert approved.signoffs[0].languages == ["en", "ru"]
    approved_at = DRAFTED + timedelta(hours=len(FULL_CHAIN))
    assert approved.approved_at == approved_at
    assert approved.decision.appealable is True
    assert approved.decision.appeal_until == approved_at + timedelta(days=365)
    assert approved.decision == case.decision
    assert case.timeline[-1].action == "decision-approved"


def test_clause_texts_are_snapshotted_from_the_catalogue() -> None:
    decision = drafted().decision
    assert decision is not None
    assert [g.id for g in decision.grounds] == ["ucoc-3-1", "tou-4-harassment"]
    for ground in decision.grounds:
        clause = POLICY.clauses.items[ground.id]
        assert (ground.source, ground.section, ground.text) == (
            clause.source,
            clause.section,
            clause.text,
        )
        assert ground.catalogue_version == POLICY.clauses.version


def test_a_non_appealable_action_gets_no_appeal_deadline() -> None:
    case, events = sign_chain(
        drafted("conduct-warning"), [("alice", "case-handler"), ("bob", "ts-manager")]
    )
    assert case.state is CaseState.APPROVED
    assert events[0].decision.appealable is False
    assert events[0].decision.appeal_until is None


def test_wrong_level_order() -> None:
    error = rejected(sign, drafted(), "bob", "ts-manager")
    assert error.kind is Kind.CONFLICT
    assert error.code == "wrong_level"
    assert rules(error) == [("level", "next_in_chain")]


def test_signing_a_level_one_does_not_hold() -> None:
    error = rejected(sign, drafted(), "carol", "case-handler")
    assert error.kind is Kind.FORBIDDEN
    assert error.code == "not_entitled"


def test_one_person_cannot_sign_two_levels() -> None:
    case, _ = sign(drafted(), "bob", "case-handler")
    error = rejected(sign, case, "bob", "ts-manager")
    assert error.kind is Kind.FORBIDDEN
    assert error.code == "separation_of_duties"
    assert rules(error) == [("level", "one_level_per_person")]


def test_the_requester_cannot_sign() -> None:
    requester = outsider(email=REQUESTER_EMAIL.upper())
    error = rejected(sign, drafted(), requester, "case-handler")
    assert error.kind is Kind.FORBIDDEN
    assert error.code == "separation_of_duties"
    assert rules(error) == [("level", "not_requester")]


@pytest.mark.parametrize("account", [SUBJECT_ACCOUNT, SUBJECT_ACCOUNT.lower()])
def test_the_subject_cannot_sign(account: str) -> None:
    subject = outsider(wiki_accounts=["Some Alt", account])
    error = rejected(sign, drafted(), subject, "case-handler")
    assert error.kind is Kind.FORBIDDEN
    assert error.code == "separation_of_duties"
    assert rules(error) == [("level", "not_subject")]


def test_the_decision_subject_cannot_sign_either() -> None:
    case = drafted(subject={"account": "Other Account"})
    error = rejected(sign, case, outsider(wiki_accounts=["Other Account"]), "case-handler")
    assert rules(error) == [("level", "not_subject")]


def test_the_subject_cannot_sign_under_the_underscore_spelling() -> None:
    subject = outsider(wiki_accounts=[SUBJECT_ACCOUNT.replace(" ", "_")])
    error = rejected(sign, drafted(), subject, "case-handler")
    assert rules(error) == [("level", "not_subject")]


def test_decline_closes_the_case() -> None:
    case, _ = sign(drafted(), "alice", "case-handler")
    case, events = sign(case, "bob", "ts-manager", "decline")
    assert case.state is CaseState.DECLINED
    assert len(events) == 1
    (declined,) = events
    assert isinstance(declined, DecisionDeclined)
    assert (declined.case_id, declined.level, declined.staff_id) == (case.id, "ts-manager", "bob")
    assert [s.verdict for s in case.signoffs] == ["approve", "decline"]
    error = rejected(sign, case, "carol", "legal-counsel")
    assert error.kind is Kind.CONFLICT
    error = rejected(draft_decision, case, decision_form(), staff("alice"), POLICY, DRAFTED)
    assert error.code == "case_closed"


def test_send_back_requests_changes_and_clears_signoffs() -> None:
    case, _ = sign_chain(drafted(), CHAIN[:2])
    case, events = sign(case, "carol", "legal-counsel", "send-back")
    assert events == []
    assert case.state is CaseState.CHANGES_REQUESTED
    assert case.signoffs == []
    assert case.timeline[-1].action == "signoff-send-back"
    assert rejected(sign, case, "alice", "case-handler").kind is Kind.CONFLICT
    redrafted = draft_decision(case, decision_form(), staff("alice"), POLICY, DRAFTED)
    assert redrafted.state is CaseState.AWAITING_SIGNOFF
    assert redrafted.next_level(POLICY) == "case-handler"


def test_redrafting_restarts_the_chain() -> None:
    case, _ = sign_chain(drafted(), CHAIN[:2])
    assert len(case.signoffs) == 2
    form = decision_form(public_rationale="Amended rationale after review.")
    redrafted = draft_decision(case, form, staff("carol"), POLICY, DRAFTED + timedelta(days=1))
    assert redrafted.signoffs == []
    assert redrafted.state is CaseState.AWAITING_SIGNOFF
    assert redrafted.decision_revision == 2
    assert redrafted.next_level(POLICY) == "case-handler"
    assert redrafted.timeline[-1].action == "decision-drafted"
    assert "restarted" in redrafted.timeline[-1].detail
    assert "restarted" not in drafted().timeline[-1].detail


# --- invalid drafts ---------------------------------------------------------------------------


def test_unknown_clause_is_named_by_position() -> None:
    form = decision_form(grounds=["ucoc-3-1", "made-up-clause"])
    error = rejected(draft_decision, opened(), form, staff("alice"), POLICY, DRAFTED)
    assert error.kind is Kind.INVALID
    assert rules(error) == [("grounds.1", "known_clause")]
    assert "made-up-clause" in error.errors[0].message


def test_a_repeated_unknown_clause_is_named_at_each_position() -> None:
    form = decision_form(grounds=["made-up", "ucoc-3-1", "made-up"])
    error = rejected(draft_decision, opened(), form, staff("alice"), POLICY, DRAFTED)
    assert [e.field for e in error.errors] == ["grounds.0", "grounds.2"]


@pytest.mark.parametrize("offset", [timedelta(days=-1), timedelta(0)])
def test_expiry_must_be_in_the_future(offset: timedelta) -> None:
    form = decision_form(expires_at=DRAFTED + offset)
    error = rejected(draft_decision, opened(), form, staff("alice"), POLICY, DRAFTED)
    assert error.kind is Kind.INVALID
    assert rules(error) == [("expires_at", "future")]


def test_a_future_expiry_is_kept() -> None:
    until = DRAFTED + timedelta(days=90)
    decision = drafted(expires_at=until).decision
    assert decision is not None and decision.expires_at == until


# --- the timeline -----------------------------------------------------------------------------


def test_the_timeline_is_append_only() -> None:
    case = opened()
    steps = [
        lambda c: draft_decision(c, decision_form(), staff("alice"), POLICY, DRAFTED),
        lambda c: sign(c, "alice", "case-handler")[0],
        lambda c: sign(c, "bob", "ts-manager", "send-back")[0],
        lambda c: draft_decision(c, decision_form(), staff("alice"), POLICY, DRAFTED),
        lambda c: sign(c, "alice", "case-handler")[0],
        lambda c: sign(c, "bob", "ts-manager")[0],
        lambda c: draft_decision(
            c, decision_form(public_rationale="Amended."), staff("bob"), POLICY, DRAFTED
        ),
        *[lambda c, who=who, level=level: sign(c, who, level)[0] for who, level in FULL_CHAIN],
    ]
    for step in steps:
        before = case.timeline
        case = step(case)
        assert len(case.timeline) > len(before)
        assert case.timeline[: len(before)] == before
    assert case.state is CaseState.APPROVED
    assert case.timeline[0].action == "case-opened"


# --- the staff directory ----------------------------------------------------------------------


def test_by_token() -> None:
    assert staff("carol").levels == ["legal-counsel"]
    assert STAFF.by_token("demo-carol-token ") is None
    assert STAFF.by_token("demo-mallory-token") is None
    assert STAFF.by_token("") is None


def _staff_file(tmp_path: Path, entries: str) -> Path:
    path = tmp_path / "staff.yaml"
    path.write_text("staff:\n" + entries, encoding="utf-8")
    return path


def _entry(staff_id: str, levels: str) -> str:
    return (
        f"  - id: {staff_id}\n    name: {staff_id.title()}\n    email: {staff_id}@x.test\n"
        f"    levels: {levels}\n    languages: [en]\n    token_sha256: {'a' * 64}\n"
    )


def test_load_staff_rejects_unknown_levels(tmp_path: Path) -> None:
    path = _staff_file(tmp_path, _entry("zoe", "[case-handler]") + _entry("yan", "[janitor]"))
    with pytest.raises(StaffDirectoryError) as caught:
        load_staff(path, POLICY)
    message = str(caught.value)
    assert str(path) in message
    assert "staff.1.levels" in message
    assert "janitor" in message


def test_load_staff_rejects_duplicate_ids(tmp_path: Path) -> None:
    path = _staff_file(tmp_path, _entry("zoe", "[case-handler]") + _entry("zoe", "[director]"))
    with pytest.raises(StaffDirectoryError) as caught:
        load_staff(path, POLICY)
    message = str(caught.value)
    assert str(path) in message
    assert "staff.1.id" in message
    assert "duplicate id 'zoe'" in message


def test_load_staff_rejects_bad_shape_and_missing_file(tmp_path: Path) -> None:
    path = _staff_file(tmp_path, _entry("zoe", "[case-handler]").replace("a" * 64, "secret"))
    with pytest.raises(StaffDirectoryError, match="token_sha256") as caught:
        load_staff(path, POLICY)
    assert str(path) in str(caught.value)
    missing = tmp_path / "absent.yaml"
    with pytest.raises(StaffDirectoryError, match="cannot read") as caught:
        load_staff(missing, POLICY)
    assert str(missing) in str(caught.value)

"""Review's domain with the real policy file and the demo staff: every action type's chain,
every separation-of-duty refusal, the language gate, send-back, the expedited chain,
reversal, inquiries, opening from every submission kind, counsel's determination."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from casework.contract import (
    Channel,
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    EvidenceItem,
    EvidenceLocation,
    InquiryAnswered,
    Requester,
    Subject,
    SubmissionKind,
    SubmissionReceived,
)
from casework.errors import Kind, Rejected
from casework.policy import Policy, load_policy
from casework.policy.review import ReversalApprovals, ReviewRules
from services.review.adapters.staff_file import load_staff
from services.review.domain.case import Barred, Case, CaseState, LinkKind
from services.review.domain.deadlines import calendar_for
from services.review.domain.decision import (
    DecisionForm,
    DeterminationForm,
    draft_decision,
    record_determination,
)
from services.review.domain.inquiries import InquiryForm, answer_inquiry
from services.review.domain.opening import (
    case_id_for,
    close_as_duplicate,
    merge_duplicate,
    open_case,
)
from services.review.domain.reversal import ReversalForm, reverse_decision, withdraw_reversal
from services.review.domain.rules import check_rules
from services.review.domain.signoff import SignOffForm, sign_off
from services.review.domain.staff import StaffMember

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
STAFF = load_staff(ROOT / "deploy" / "demo-staff.yaml", POLICY)

RECEIVED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NOW = RECEIVED + timedelta(hours=1)
REQUESTER = Requester(name="Reporter Person", email="reporter@example.org")
SUBJECT = "Troublesome Editor"

# Terms each action type's decision must carry (by its enforcement).
TERMS: dict[str, dict[str, Any]] = {
    "interaction-ban": {"interaction_ban": {"counterparties": ["Victim One"], "two_way": True}},
    "removal-of-advanced-rights": {
        "rights_removal": {"groups": ["sysop"], "reapply_criteria": "After one year, via RfA."}
    },
    "event-ban": {"event_ban": {"events": []}},
    "dmca-takedown": {"content": {"pages": [{"wiki": "sandbox", "title": "Copied page"}]}},
    "child-protection": {
        "content": {"pages": [{"wiki": "sandbox", "title": "Bad page", "removal": "suppress"}]}
    },
    "office-page-protection": {
        "content": {"pages": [{"wiki": "sandbox", "title": "Court page", "protection": "sysop"}]}
    },
}


def staff(staff_id: str) -> StaffMember:
    member = STAFF.by_token(f"demo-{staff_id}-token")
    assert member is not None and member.id == staff_id
    return member


def member(staff_id: str, levels: list[str], languages: list[str], **fields: Any) -> StaffMember:
    return StaffMember(
        id=staff_id,
        name=staff_id.title(),
        email=f"{staff_id}@officeactions.test",
        levels=levels,
        languages=languages,
        **fields,
    )


# One distinct signer per level, all fluent in English.
SIGNERS = {
    "case-handler": member("hana", ["case-handler"], ["en"]),
    "ts-manager": member("tomas", ["ts-manager"], ["en"]),
    "legal-counsel": member("lena", ["legal-counsel"], ["en"]),
    "director": member("dario", ["director"], ["en"]),
}


def submission(
    kind: SubmissionKind = SubmissionKind.REQUEST,
    action: str | None = "global-ban",
    sid: str = "R-ABCDEFGH2345",
    **fields: Any,
) -> SubmissionReceived:
    base: dict[str, Any] = {
        "submission_id": sid,
        "kind": kind,
        "channel": Channel.FORM,
        "action_type": action,
        "routed_to": POLICY.action(action).routed_to if action else "support-and-safety",
        "summary": "Cross-wiki harassment of several editors.",
        "subject": Subject(account=SUBJECT),
        "evidence": [
            EvidenceItem(
                url="https://en.example.org/wiki/Special:Diff/1",
                description="Threat on a talk page",
                where=EvidenceLocation.ON_WIKI_PUBLIC,
            )
        ],
        "requester": REQUESTER,
        "received_at": RECEIVED,
    }
    return SubmissionReceived(**{**base, **fields})


def opened(action: str = "global-ban", **fields: Any) -> Case:
    case, _ = open_case(submission(action=action, **fields), POLICY, RECEIVED)
    return case


def form(action: str = "global-ban", **fields: Any) -> DecisionForm:
    base: dict[str, Any] = {
        "subject": {"account": SUBJECT, "language": "en"},
        "grounds": ["ucoc-3-1"],
        "public_rationale": "Sustained harassment.",
        "statement_of_facts": "Staff only: the full account of what happened.",
        **TERMS.get(action, {}),
    }
    return DecisionForm(**{**base, **fields})


def drafted(action: str = "global-ban", **fields: Any) -> Case:
    return draft_decision(
        opened(action), form(action, **fields), SIGNERS["case-handler"], POLICY, NOW
    )


def sign(
    case: Case, who: StaffMember, level: str, verdict: str = "approve", comment: str = ""
) -> tuple[Case, list[Any]]:
    body = SignOffForm(level=level, verdict=verdict, comment=comment or f"{who.id}: {verdict}")
    return sign_off(case, body, who, POLICY, NOW + timedelta(minutes=len(case.timeline)))


def refused(call: Any, *args: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        call(*args)
    return caught.value


def rules(error: Rejected) -> list[tuple[str, str]]:
    return [(e.field, e.rule) for e in error.errors]


def approved(action: str = "global-ban") -> tuple[Case, list[Any]]:
    case = drafted(action)
    events: list[Any] = []
    for level in POLICY.action(action).signoff:
        case, events = sign(case, SIGNERS[level], level)
    return case, events


# --- every action type's chain from the default policy ------------------------------------


def test_the_policy_review_section_is_consistent() -> None:
    assert check_rules(POLICY) == []


@pytest.mark.parametrize("action", sorted(POLICY.action_types))
def test_each_action_types_chain_from_the_policy(action: str) -> None:
    chain = POLICY.action(action).signoff
    expedited = POLICY.review.expedited.get(action)
    # Where the policy requires it (a global lock), the decision cites the request's evidence.
    cited = [{"id": "E1"}] if POLICY.action(action).evidence_required else []
    case = drafted(action, evidence=cited)
    assert case.chain == chain
    published: list[Any] = []
    for i, level in enumerate(chain):
        assert case.next_level(POLICY) == level
        case, events = sign(case, SIGNERS[level], level)
        published += events
        done = chain[: i + 1]
        if expedited is None and i < len(chain) - 1:
            assert events == [] and case.state is CaseState.AWAITING_SIGNOFF
        if expedited is not None and done == expedited.proceed_after:
            assert case.state is CaseState.ENFORCING_AWAITING_SIGNOFF
    assert case.state is CaseState.APPROVED
    (event,) = published
    assert isinstance(event, DecisionApproved)
    assert event.requester == REQUESTER
    assert event.decision.revision == 1
    assert event.decision.action_type == action
    assert event.expedited is (expedited is not None)


def test_terms_required_by_the_action_type() -> None:
    error = refused(
        draft_decision,
        opened("interaction-ban"),
        form("global-ban"),  # no interaction_ban terms
        SIGNERS["case-handler"],
        POLICY,
        NOW,
    )
    assert rules(error) == [("interaction_ban", "required")]


def test_the_decision_carries_every_parameter() -> None:
    case = drafted(
        "interaction-ban",
        wikis=["sandbox"],
        expires_at=(NOW + timedelta(days=90)).isoformat(),
        evidence=[{"id": "E1", "audiences": ["affected-user"]}],
        disclosure={
            "public_statement": False,
            "confidential_grounds": "Protects the reporters.",
            "answers": {"clauses": {"audiences": ["affected-user"], "grounds": ""}},
        },
        language="ru",
        appealable=True,
    )
    d = case.decision
    assert d is not None
    assert d.interaction_ban is not None and d.interaction_ban.two_way is True
    assert d.wikis == ["sandbox"] and d.language == "ru" and case.language == "ru"
    assert [(e.id, e.description, e.audiences) for e in d.evidence] == [
        ("E1", "Threat on a talk page", ["affected-user"])
    ]
    assert d.disclosure.public_statement is False
    assert d.grounds[0].text == POLICY.clauses.items["ucoc-3-1"].text
    assert case.statement_of_facts.startswith("Staff only")
    assert "statement_of_facts" not in d.model_dump()  # it never travels


def test_unknown_evidence_and_a_non_appealable_type_are_refused() -> None:
    error = refused(
        draft_decision,
        opened("conduct-warning"),
        form("conduct-warning", evidence=[{"id": "E9"}], appealable=True),
        SIGNERS["case-handler"],
        POLICY,
        NOW,
    )
    assert rules(error) == [("evidence.0.id", "known_evidence"), ("appealable", "policy")]


# --- separation of duties -----------------------------------------------------------------


def test_one_person_one_level() -> None:
    both = member("bea", ["case-handler", "ts-manager"], ["en"])
    case, _ = sign(drafted(), both, "case-handler")
    error = refused(sign, case, both, "ts-manager")
    assert (error.kind, rules(error)) == (Kind.FORBIDDEN, [("level", "one_level_per_person")])


def test_a_level_the_signer_does_not_hold() -> None:
    error = refused(sign, drafted(), SIGNERS["director"], "case-handler")
    assert (error.kind, error.code) == (Kind.FORBIDDEN, "not_entitled")


def test_the_wrong_level() -> None:
    error = refused(sign, drafted(), SIGNERS["ts-manager"], "ts-manager")
    assert (error.kind, rules(error)) == (Kind.CONFLICT, [("level", "next_in_chain")])


def test_the_requester_cannot_sign() -> None:
    requester = member("rita", ["case-handler"], ["en"]).model_copy(
        update={"email": REQUESTER.email.upper()}
    )
    error = refused(sign, drafted(), requester, "case-handler")
    assert rules(error) == [("level", "not_requester")]


def test_the_subject_cannot_sign() -> None:
    subject = member("sam", ["case-handler"], ["en"], wiki_accounts=[SUBJECT.replace(" ", "_")])
    error = refused(sign, drafted(), subject, "case-handler")
    assert rules(error) == [("level", "not_subject")]


@pytest.mark.parametrize("named", ["nina", "Nina Wiki", "nina@officeactions.test"])
def test_staff_named_in_an_abuse_report_cannot_sign(named: str) -> None:
    nina = member("nina", ["case-handler"], ["en"], wiki_accounts=["Nina Wiki"])
    case, _ = open_case(
        submission(SubmissionKind.ABUSE_REPORT, named_staff=[named]), POLICY, RECEIVED
    )
    case = draft_decision(case, form(), SIGNERS["case-handler"], POLICY, NOW)
    error = refused(sign, case, nina, "case-handler")
    assert (error.kind, rules(error)) == (Kind.FORBIDDEN, [("level", "not_named_in_report")])
    assert case.is_barred(nina) is not None
    assert case.is_barred(SIGNERS["case-handler"]) is None


def test_an_appeal_is_not_signed_by_a_signer_of_the_original() -> None:
    original, _ = approved()
    appeal, _ = open_case(
        submission(SubmissionKind.APPEAL, sid="R-APPEAL000001", refers_to=original.id),
        POLICY,
        RECEIVED,
        original,
    )
    assert appeal.linked(LinkKind.APPEAL_OF) == original.id
    assert appeal.action_type == "global-ban"
    appeal = draft_decision(appeal, form(), SIGNERS["case-handler"], POLICY, NOW)
    error = refused(sign, appeal, SIGNERS["case-handler"], "case-handler")
    assert rules(error) == [("level", "not_original_signer")]
    fresh = member("fred", ["case-handler"], ["en"])
    assert sign(appeal, fresh, "case-handler")[0].next_level(POLICY) == "ts-manager"


# --- the language gate ---------------------------------------------------------------------


def test_someone_fluent_in_the_case_language_must_sign() -> None:
    case = drafted("conduct-warning", language="ru")
    case, _ = sign(case, SIGNERS["case-handler"], "case-handler")
    error = refused(sign, case, SIGNERS["ts-manager"], "ts-manager")
    assert (error.kind, rules(error)) == (Kind.CONFLICT, [("languages", "fluent_signer")])
    assert case.state is CaseState.AWAITING_SIGNOFF  # nothing changed
    ru_manager = member("rus", ["ts-manager"], ["en", "ru-RU"])
    case, events = sign(case, ru_manager, "ts-manager")
    assert case.state is CaseState.APPROVED
    assert events[0].signoffs[1].languages == ["en", "ru-RU"]


def test_the_gate_is_the_policys_to_turn_off() -> None:
    relaxed = POLICY.model_copy(
        update={"review": POLICY.review.model_copy(update={"language_gate": False})}
    )
    case = draft_decision(
        opened("conduct-warning"), form(language="ru"), SIGNERS["case-handler"], relaxed, NOW
    )
    for level in ("case-handler", "ts-manager"):
        case, _ = sign_off(
            case,
            SignOffForm(level=level, verdict="approve", comment="ok"),
            SIGNERS[level],
            relaxed,
            NOW,
        )
    assert case.state is CaseState.APPROVED


# --- decline, send back, changes ----------------------------------------------------------


def test_decline_publishes_the_decline_with_the_comment_verbatim() -> None:
    case, _ = sign(drafted(), SIGNERS["case-handler"], "case-handler")
    comment = "Evidence E1 does not show a threat.\n  Second line, kept as typed. "
    case, events = sign(case, SIGNERS["ts-manager"], "ts-manager", "decline", comment)
    assert case.state is CaseState.DECLINED
    (event,) = events
    assert isinstance(event, DecisionDeclined)
    assert event.comment == comment and event.requester == REQUESTER
    assert case.signoffs[-1].comment == comment


def test_send_back_keeps_the_comment_and_restarts_on_redraft() -> None:
    case, _ = sign(drafted(), SIGNERS["case-handler"], "case-handler")
    case, events = sign(
        case, SIGNERS["ts-manager"], "ts-manager", "send-back", "Cite UCoC 3.2 too."
    )
    assert events == [] and case.state is CaseState.CHANGES_REQUESTED and case.signoffs == []
    assert [s.comment for s in case.past_signoffs][-1] == "Cite UCoC 3.2 too."
    redrafted = draft_decision(
        case, form(grounds=["ucoc-3-1", "ucoc-3-2"]), SIGNERS["case-handler"], POLICY, NOW
    )
    assert redrafted.state is CaseState.AWAITING_SIGNOFF
    assert redrafted.decision is not None and redrafted.decision.revision == 2
    assert redrafted.next_level(POLICY) == "case-handler"


def test_any_change_restarts_the_chain() -> None:
    case, _ = sign(drafted(), SIGNERS["case-handler"], "case-handler")
    changed = draft_decision(
        case, form(public_rationale="Amended."), SIGNERS["ts-manager"], POLICY, NOW
    )
    assert changed.signoffs == [] and changed.decision_revision == 2
    assert [s.staff_id for s in changed.past_signoffs] == ["hana"]


def test_the_same_decision_again_changes_nothing() -> None:
    """A retried PUT (the answer was lost): no new revision, the signatures stay."""
    case, _ = sign(drafted(), SIGNERS["case-handler"], "case-handler")
    again = draft_decision(case, form(), SIGNERS["case-handler"], POLICY, NOW)
    assert again == case
    assert again.decision_revision == 1 and [s.staff_id for s in again.signoffs] == ["hana"]
    # After a send-back the same text is a deliberate redraft: the chain starts again.
    back, _ = sign(case, SIGNERS["ts-manager"], "ts-manager", "send-back", "Explain more.")
    redrafted = draft_decision(back, form(), SIGNERS["case-handler"], POLICY, NOW)
    assert redrafted.decision_revision == 2 and redrafted.state is CaseState.AWAITING_SIGNOFF


# --- counsel's determination ---------------------------------------------------------------


def test_only_legal_counsel_records_a_determination_word_for_word() -> None:
    text = "Having reviewed the evidence, counsel determines:\n\n  the threats are credible."
    body = DeterminationForm(
        text=text, disclosure="redacted", redacted_text="Threats credible.", grounds="Privilege."
    )
    error = refused(record_determination, drafted(), body, SIGNERS["ts-manager"], POLICY, NOW)
    assert (error.kind, error.code) == (Kind.FORBIDDEN, "not_entitled")
    case, _ = sign(drafted(), SIGNERS["case-handler"], "case-handler")
    case = record_determination(case, body, SIGNERS["legal-counsel"], POLICY, NOW)
    d = case.decision
    assert d is not None and d.determination is not None
    assert d.determination.text == text and d.determination.counsel_id == "lena"
    assert case.signoffs == [] and case.decision_revision == 2  # a change restarts the chain
    # A later redraft keeps counsel's determination.
    redrafted = draft_decision(case, form(), SIGNERS["case-handler"], POLICY, NOW)
    assert redrafted.decision is not None and redrafted.decision.determination == d.determination


def test_a_withheld_determination_needs_grounds() -> None:
    body = DeterminationForm(text="Determination.", disclosure="withheld")
    error = refused(record_determination, drafted(), body, SIGNERS["legal-counsel"], POLICY, NOW)
    assert rules(error) == [("grounds", "required")]


# --- the expedited chain (child protection) -----------------------------------------------


def test_child_protection_proceeds_on_one_legal_approval() -> None:
    case = drafted("child-protection")
    case, events = sign(case, SIGNERS["legal-counsel"], "legal-counsel")
    (event,) = events
    assert isinstance(event, DecisionApproved)
    assert event.expedited is True and event.outstanding_levels == ["ts-manager"]
    assert case.state is CaseState.ENFORCING_AWAITING_SIGNOFF
    # No send-back once enforcement acted; approving completes without a second event.
    error = refused(sign, case, SIGNERS["ts-manager"], "ts-manager", "send-back")
    assert error.code == "already_enforced"
    done, more = sign(case, SIGNERS["ts-manager"], "ts-manager")
    assert more == [] and done.state is CaseState.APPROVED


def test_a_later_decline_of_an_expedited_decision_reverses_it() -> None:
    case, _ = sign(drafted("child-protection"), SIGNERS["legal-counsel"], "legal-counsel")
    case, events = sign(case, SIGNERS["ts-manager"], "ts-manager", "decline", "Not CSAM.")
    (event,) = events
    assert isinstance(event, DecisionReversed)
    assert event.reversed_by == "tomas" and case.state is CaseState.REVERSED
    # The chain itself declined: its one declining sign-off is the reversal's approval.
    assert event.grounds == "declined-after-expedited"
    assert [(a.staff_id, a.level, a.verdict, a.comment) for a in event.approvals] == [
        ("tomas", "ts-manager", "decline", "Not CSAM.")
    ]


# --- reversal ------------------------------------------------------------------------------


def reverse(
    case: Case,
    who: StaffMember,
    grounds: str = "error",
    reason: str = "Wrong account.",
    appeal: Case | None = None,
    policy: Policy = POLICY,
) -> tuple[Case, list[Any]]:
    body = ReversalForm.model_validate(
        {"grounds": grounds, "reason": reason, "appeal_case_id": appeal.id if appeal else None}
    )
    return reverse_decision(case, body, who, policy, NOW, appeal)


def with_reversal_approvals(**approvals: int) -> Policy:
    review = POLICY.review.model_copy(update={"reversal_approvals": ReversalApprovals(**approvals)})
    return POLICY.model_copy(update={"review": review})


def test_the_policy_needs_two_people_to_reverse_a_multi_level_decision() -> None:
    assert POLICY.review.reversal_approvals_needed(len(POLICY.action("global-ban").signoff)) == 2
    assert POLICY.review.reversal_approvals_needed(1) == 1
    for bad in ({"multi_level": 0}, {"single_level": 0}, {"single_level": 3, "multi_level": 2}):
        with pytest.raises(ValidationError):
            ReviewRules.model_validate({"reversal_approvals": bad})


def test_reversal_for_error_needs_two_distinct_people() -> None:
    case, _ = approved()
    pending, events = reverse(case, staff("dave"))
    # One person: recorded as pending, the decision stands, nothing published.
    assert events == [] and pending.state is CaseState.APPROVED
    waiting = pending.pending_reversal
    assert waiting is not None
    assert (waiting.grounds, waiting.reason, waiting.requested_by) == (
        "error",
        "Wrong account.",
        "dave",
    )
    assert (waiting.needed, waiting.missing, len(waiting.approvals)) == (2, 1, 1)
    assert pending.timeline[-1].action == "reversal-requested"
    again = refused(reverse, pending, staff("dave"))
    assert (again.kind, rules(again)) == (Kind.CONFLICT, [("staff", "one_approval_per_person")])
    reversed_case, events = reverse(pending, staff("bob"), reason="Confirmed: wrong account.")
    (event,) = events
    assert isinstance(event, DecisionReversed)
    # The first reason is the one published; each approver's own is kept with their approval.
    assert (event.reason, event.reversed_by, event.appeal_case_id, event.grounds) == (
        "Wrong account.",
        "bob",
        None,
        "error",
    )
    assert [(a.staff_id, a.level, a.verdict, a.comment) for a in event.approvals] == [
        ("dave", "director", "approve", "Wrong account."),
        ("bob", "ts-manager", "approve", "Confirmed: wrong account."),
    ]
    assert event.approvals[0].languages == ["en", "ru"]
    assert reversed_case.state is CaseState.REVERSED and reversed_case.pending_reversal is None
    over = refused(reverse, reversed_case, staff("carol"))
    assert over.code == "not_approved"


def test_a_single_level_decision_is_reversed_by_one_person_when_the_policy_says_so() -> None:
    case, _ = approved()
    one = with_reversal_approvals(single_level=1, multi_level=1)
    reversed_case, events = reverse(case, staff("dave"), policy=one)
    assert reversed_case.state is CaseState.REVERSED
    assert [a.staff_id for a in events[0].approvals] == ["dave"]


def test_reversal_needs_a_reversal_level() -> None:
    case, _ = approved()
    error = refused(reverse, case, SIGNERS["case-handler"])
    assert (error.kind, rules(error)) == (Kind.FORBIDDEN, [("staff", "reversal_level")])


def test_the_subject_of_the_action_cannot_reverse_it_alone_or_as_a_confirmer() -> None:
    case, _ = approved()
    subject = member("sam", ["director"], ["en"], wiki_accounts=["troublesome_Editor"])
    error = refused(reverse, case, subject)
    assert (error.kind, rules(error)) == (Kind.FORBIDDEN, [("level", "not_subject")])
    pending, _ = reverse(case, staff("dave"))
    error = refused(reverse, pending, subject)
    assert (error.kind, rules(error)) == (Kind.FORBIDDEN, [("level", "not_subject")])


def test_the_requester_and_staff_named_in_the_report_cannot_reverse() -> None:
    case, _ = approved()
    requester = member("rita", ["ts-manager"], ["en"]).model_copy(
        update={"email": REQUESTER.email.upper()}
    )
    error = refused(reverse, case, requester)
    assert (error.kind, rules(error)) == (Kind.FORBIDDEN, [("level", "not_requester")])
    named = case.model_copy(update={"barred": [Barred(who="dave", reason="named-in-report")]})
    error = refused(reverse, named, staff("dave"))
    assert (error.kind, rules(error)) == (Kind.FORBIDDEN, [("level", "not_named_in_report")])


def test_an_original_signer_cannot_reverse_for_error_alone() -> None:
    case, _ = approved()
    signer, other_signer = SIGNERS["ts-manager"], SIGNERS["director"]
    # Where one approval suffices, a signer of the original is not enough.
    one = with_reversal_approvals(single_level=1, multi_level=1)
    error = refused(reverse, case, signer, "error", "Wrong account.", None, one)
    assert (error.kind, rules(error)) == (Kind.FORBIDDEN, [("level", "not_only_original_signers")])
    # Two signers of the original together are not enough either...
    pending, events = reverse(case, signer)
    assert events == [] and pending.pending_reversal is not None
    error = refused(reverse, pending, other_signer)
    assert rules(error) == [("level", "not_only_original_signers")]
    # ...but a signer may take part beside someone who did not sign.
    reversed_case, events = reverse(pending, staff("dave"))
    assert reversed_case.state is CaseState.REVERSED
    assert [a.staff_id for a in events[0].approvals] == ["tomas", "dave"]


def test_an_appeal_is_upheld_only_by_people_who_did_not_sign_the_original() -> None:
    original, _ = approved()
    appeal, _ = open_case(
        submission(SubmissionKind.APPEAL, sid="R-APPEAL000001", refers_to=original.id),
        POLICY,
        RECEIVED,
        original,
    )
    signer = SIGNERS["ts-manager"]
    error = refused(reverse, original, signer, "appeal-upheld", "Upheld.", appeal)
    assert rules(error) == [("level", "not_original_signer")]
    missing = refused(reverse, original, staff("dave"), "appeal-upheld", "Upheld.")
    assert rules(missing) == [("appeal_case_id", "appeal_of_case")]
    other = opened()
    wrong = refused(reverse, original, staff("dave"), "appeal-upheld", "Upheld.", other)
    assert rules(wrong) == [("appeal_case_id", "appeal_of_case")]
    pending, events = reverse(original, staff("dave"), "appeal-upheld", "Upheld.", appeal)
    assert events == [] and pending.state is CaseState.APPROVED
    # Confirming needs the same grounds; a signer of the original may not confirm.
    mixed = refused(reverse, pending, staff("bob"))
    assert (mixed.kind, rules(mixed)) == (Kind.CONFLICT, [("grounds", "same_as_pending")])
    error = refused(reverse, pending, signer, "appeal-upheld", "Upheld.", appeal)
    assert rules(error) == [("level", "not_original_signer")]
    reversed_case, events = reverse(pending, staff("carol"), "appeal-upheld", "Agreed.", appeal)
    (event,) = events
    assert isinstance(event, DecisionReversed) and event.appeal_case_id == appeal.id
    assert event.grounds == "appeal-upheld" and event.reason == "Upheld."
    assert [(a.staff_id, a.level) for a in event.approvals] == [
        ("dave", "ts-manager"),
        ("carol", "legal-counsel"),
    ]
    assert reversed_case.state is CaseState.REVERSED


def test_a_pending_reversal_can_be_withdrawn_by_an_entitled_person() -> None:
    case, _ = approved()
    pending, _ = reverse(case, staff("dave"))
    error = refused(withdraw_reversal, pending, SIGNERS["case-handler"], POLICY, NOW)
    assert rules(error) == [("staff", "reversal_level")]
    withdrawn = withdraw_reversal(pending, staff("carol"), POLICY, NOW)
    assert withdrawn.pending_reversal is None and withdrawn.state is CaseState.APPROVED
    assert withdrawn.timeline[-1].action == "reversal-withdrawn"
    again = refused(withdraw_reversal, withdrawn, staff("carol"), POLICY, NOW)
    assert (again.kind, rules(again)) == (Kind.CONFLICT, [("reversal", "pending")])
    # Withdrawn, a new reversal starts from nothing.
    restarted, events = reverse(withdrawn, staff("bob"))
    assert events == [] and restarted.pending_reversal is not None
    assert [a.staff_id for a in restarted.pending_reversal.approvals] == ["bob"]


# --- opening from every kind ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "link"),
    [
        (SubmissionKind.APPEAL, LinkKind.APPEAL_OF),
        (SubmissionKind.BREACH_REPORT, LinkKind.BREACH_OF),
        (SubmissionKind.ABUSE_REPORT, LinkKind.ABUSE_REPORT_ABOUT),
        (SubmissionKind.INQUIRY, LinkKind.INQUIRY_ABOUT),
    ],
)
def test_cases_referring_to_an_earlier_one_are_linked(kind: SubmissionKind, link: LinkKind) -> None:
    case, event = open_case(
        submission(kind, refers_to="OA-ORIGINAL0001", questions=["Which clause?"]),
        POLICY,
        RECEIVED,
    )
    assert case.kind is kind and case.linked(link) == "OA-ORIGINAL0001"
    assert event.kind is kind and event.linked_to == "OA-ORIGINAL0001"


@pytest.mark.parametrize(
    "kind", [SubmissionKind.DMCA_NOTICE, SubmissionKind.CHILD_PROTECTION_REPORT]
)
def test_anonymous_and_urgent_reports_open_a_case(kind: SubmissionKind) -> None:
    case, event = open_case(
        submission(kind, action="child-protection", requester=None, subject=None, urgent=True),
        POLICY,
        RECEIVED,
    )
    assert case.urgent and event.urgent
    assert case.deadline_at == RECEIVED + timedelta(hours=24)
    assert case.evidence[0].added_by == "submission"


def test_an_unknown_action_type_leaves_the_case_untyped() -> None:
    case, _ = open_case(submission(action=None), POLICY, RECEIVED)
    assert case.action_type is None and case.deadline is None
    error = refused(draft_decision, case, form(), SIGNERS["case-handler"], POLICY, NOW)
    assert rules(error) == [("action_type", "one_of")]
    typed = draft_decision(
        case, form(action_type="conduct-warning"), SIGNERS["case-handler"], POLICY, NOW
    )
    assert typed.action_type == "conduct-warning" and typed.chain == ["case-handler", "ts-manager"]


def test_a_duplicate_is_flagged_and_merged_by_staff() -> None:
    original = opened()
    dup, _ = open_case(
        submission(sid="R-DUPLICATE0001", duplicate_of="R-ABCDEFGH2345", named_staff=["nina"]),
        POLICY,
        RECEIVED,
    )
    assert dup.state is CaseState.OPEN and dup.linked(LinkKind.DUPLICATE_OF) == original.id
    assert dup.timeline[-1].action == "possible-duplicate"
    closed = close_as_duplicate(dup, original.id, "hana", NOW)
    assert closed.state is CaseState.MERGED
    merged = merge_duplicate(original, closed, "hana", NOW)
    assert [e.id for e in merged.evidence] == ["E1", "E2"]
    assert merged.evidence[1].added_by == f"merged:{dup.id}"
    assert merged.linked(LinkKind.MERGED_FROM) == dup.id
    assert [b.who for b in merged.barred] == ["nina"]
    assert merge_duplicate(merged, closed, "hana", NOW) == merged  # idempotent
    assert refused(close_as_duplicate, closed, original.id, "hana", NOW).code == "case_closed"
    itself = refused(close_as_duplicate, original, original.id, "hana", NOW)
    assert rules(itself) == [("into", "other_case")]


# --- inquiries -----------------------------------------------------------------------------


def inquiry() -> Case:
    case, _ = open_case(
        submission(
            SubmissionKind.INQUIRY,
            action=None,
            refers_to="OA-ORIGINAL0001",
            questions=["Which clauses?", "Where did it happen?"],
        ),
        POLICY,
        RECEIVED,
    )
    return case


# Answering with the inquiry's deadline calendar (business days), as the use case does.
answer = partial(answer_inquiry, calendar=calendar_for(inquiry(), POLICY))


def test_an_inquiry_has_its_own_deadline_on_the_business_calendar() -> None:
    # Friday 20 November 2026 plus 10 business days: 4 December.
    assert inquiry().deadline_at == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def test_each_question_is_answered_or_refused_with_grounds() -> None:
    body = InquiryForm(
        answers=[
            {"outcome": "answered", "text": "UCoC 3.1."},
            {"outcome": "refused", "text": "Disclosing it would identify the reporters."},
        ]
    )
    case, events = answer(inquiry(), body, SIGNERS["case-handler"], NOW)
    (event,) = events
    assert isinstance(event, InquiryAnswered)
    assert event.about_case_id == "OA-ORIGINAL0001" and event.requester == REQUESTER
    assert [(a.question, a.outcome) for a in event.answers] == [
        ("Which clauses?", "answered"),
        ("Where did it happen?", "refused"),
    ]
    assert case.state is CaseState.ANSWERED
    again = refused(answer, case, body, SIGNERS["case-handler"], NOW)
    assert again.code == "case_closed"


def test_every_question_needs_an_answer() -> None:
    body = InquiryForm(answers=[{"outcome": "answered", "text": "UCoC 3.1."}])
    error = refused(answer, inquiry(), body, SIGNERS["case-handler"], NOW)
    assert rules(error) == [("answers", "one_per_question")]
    not_inquiry = refused(answer, opened(), body, SIGNERS["case-handler"], NOW)
    assert not_inquiry.code == "not_an_inquiry"


def test_case_ids_are_derived_from_the_submission() -> None:
    assert case_id_for("R-ABC") == "OA-ABC"
    assert date(2026, 12, 25) in POLICY.review.holidays

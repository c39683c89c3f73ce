"""The event contract: the generated catalogue, type names, and the Kafka round trip."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from casework.catalogue import CATALOGUE_PATH, render_catalogue
from casework.cloudevents import CloudEvent, MalformedEvent, from_kafka, to_kafka
from casework.contract import (
    EVENT_TYPES,
    NAMESPACE,
    SERVICES,
    ActionEnforced,
    ActionExpired,
    ActionReversed,
    AffectedUser,
    AppealDecided,
    AppealFiled,
    Audience,
    BannedEvent,
    CaseOpened,
    CaseProgressed,
    Channel,
    ClauseGround,
    ContentTerms,
    CorrespondenceReceived,
    DeadlineAtRisk,
    DeadlineBreached,
    DecidedEvidence,
    Decision,
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    Disclosure,
    DisclosurePlan,
    DsaStatementSubmitted,
    DuplicateMerged,
    EnforcementFailed,
    EventBanTerms,
    EventData,
    EvidenceItem,
    EvidenceLocation,
    InquiryAnswer,
    InquiryAnswered,
    InquiryAnswerPublished,
    InquiryReceived,
    InteractionBanTerms,
    LegalDetermination,
    LogEntry,
    MissingElement,
    NoticePlan,
    NotificationFailed,
    NotificationSent,
    OperationOutcome,
    OperationStatus,
    PageAction,
    PublicAnswer,
    PublicInquiryAnswer,
    PublicStatement,
    Question,
    Release,
    Removal,
    Requester,
    RestorationOrdered,
    RetryOrdered,
    ReversalPublished,
    RightsRemovalTerms,
    SignOff,
    StatementPublished,
    Subject,
    SubmissionIncomplete,
    SubmissionKind,
    SubmissionReceived,
    TamperingDetected,
    from_cloudevent,
    to_cloudevent,
)
from casework.contract.enforcement import ActionRestored
from casework.contract.monitor import AlertKind, AlertRaised, DeadLetterReplayed
from casework.contract.reconcile import UNRECONCILED

T0 = datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
CASE = "OA-ABCDEFGH2345"
SUBMISSION = "R-ABCDEFGH2345"


# --- realistic examples of every event type ---------------------------------------------------


def _decision() -> Decision:
    return Decision(
        action_type="global-ban",
        subject=AffectedUser(account="Troublesome Editor", email="te@example.org", language="ru"),
        wikis=["enwiki", "dewiki"],
        expires_at=None,
        grounds=[
            ClauseGround(
                id="ucoc-3-1",
                catalogue_version="2026-11",
                source="Universal Code of Conduct",
                section="3.1 — Harassment",
                text="Insults, sexual harassment, threats, доксинг.",
            )
        ],
        public_rationale="Sustained cross-wiki harassment of several editors.",
        appealable=True,
        appeal_until=T0 + timedelta(days=365),
    )


def _signoff(level: str, staff_id: str, minutes: int) -> SignOff:
    return SignOff(
        level=level,
        staff_id=staff_id,
        verdict="approve",
        comment=f"{level} approves",
        languages=["en", "ru"],
        signed_at=T0 + timedelta(minutes=minutes),
    )


def _examples() -> list[EventData]:
    return [
        SubmissionReceived(
            submission_id=SUBMISSION,
            kind=SubmissionKind.REQUEST,
            channel=Channel.API,
            action_type="global-ban",
            routed_to="support-and-safety",
            summary="Repeated harassment across three wikis after local blocks.",
            subject=Subject(account="Troublesome Editor", wikis=["enwiki"]),
            evidence=[
                EvidenceItem(
                    url="https://en.example.org/wiki/Special:Diff/123",
                    description="Threat on a talk page",
                    where=EvidenceLocation.ON_WIKI_PUBLIC,
                )
            ],
            prior_attempts=["https://en.example.org/wiki/ANI#Troublesome_Editor"],
            requester=Requester(name="Reporter Person", email="reporter@example.org"),
            received_at=T0,
        ),
        CaseOpened(
            case_id=CASE,
            submission_id=SUBMISSION,
            action_type="global-ban",
            routed_to="support-and-safety",
            opened_at=T0,
            deadline_at=T0 + timedelta(days=28),
        ),
        DecisionApproved(
            case_id=CASE,
            decision=_decision(),
            signoffs=[_signoff("case-handler", "alice", 1), _signoff("ts-manager", "bob", 2)],
            approved_at=T0 + timedelta(minutes=3),
        ),
        DecisionDeclined(
            case_id=CASE,
            level="legal-counsel",
            staff_id="carol",
            comment="Evidence does not meet the bar.",
            declined_at=T0,
        ),
        ActionEnforced(
            case_id=CASE,
            decision=_decision(),
            operations=[
                OperationOutcome(
                    wiki="enwiki",
                    kind="block",
                    target="Troublesome Editor",
                    status=OperationStatus.DONE,
                    result_id=42,
                ),
                OperationOutcome(
                    wiki="dewiki",
                    kind="block",
                    target="Troublesome Editor",
                    status=OperationStatus.SKIPPED,
                    result_id=7,
                    detail="already blocked (block 7 by Steward)",
                ),
            ],
            enforced_at=T0,
        ),
        EnforcementFailed(
            case_id=CASE,
            wiki="enwiki",
            kind="block",
            target="Troublesome Editor",
            error_code="permissiondenied",
            error_info="You do not have permission to block.",
            permanent=True,
            failed_at=T0,
        ),
        NotificationSent(
            case_id=CASE,
            audience=Audience.AFFECTED_USER,
            channel="email",
            reference=f"<{CASE}.affected-user@officeactions.casework>",
            sent_at=T0,
        ),
        NotificationFailed(
            case_id=CASE,
            audience=Audience.REQUESTER,
            channel="email",
            reason="550 5.1.1 mailbox unavailable",
            permanent=True,
            attempt=1,
            failed_at=T0,
        ),
        StatementPublished(
            case_id=CASE,
            revision=1,
            action_type="global-ban",
            account="Vandal1",
            wikis=[],
            enforced_on=["enwiki", "ruwiki"],
            language="ru",
            appealable=True,
            requested_at=T0 - timedelta(days=9),
            deadline_at=T0 - timedelta(days=2),
            decided_at=T0 - timedelta(days=3),
            enforced_at=T0 - timedelta(days=3),
            statements=[
                PublicStatement(
                    language="en",
                    action_title="Global ban",
                    public_rationale="Repeated harassment across projects.",
                    answers=[
                        PublicAnswer(
                            question="clauses",
                            heading="Which clauses were breached?",
                            disclosed=True,
                            lines=["Terms of Use §4: harassment."],
                        ),
                        PublicAnswer(
                            question="where",
                            heading="Where did it happen?",
                            disclosed=False,
                            grounds="Naming the places would identify a victim.",
                        ),
                    ],
                )
            ],
            log_entry=LogEntry(
                page="Project:Office actions/Log",
                revision_id=4711,
                url="http://wiki.example/index.php?oldid=4711",
            ),
            published_at=T0,
        ),
        DsaStatementSubmitted(
            case_id=CASE,
            revision=1,
            puid="6f1c2d3e-4b5a-5c6d-8e7f-a1b2c3d4e5f6",
            dsa_id="9b0d7c66-1e2f-4a3b-9c8d-7e6f5a4b3c2d",
            submitted_at=T0,
        ),
        ReversalPublished(
            case_id=CASE,
            reason="Upheld on appeal: the edits were another person's.",
            grounds="appeal-upheld",
            appeal_case_id="AP-ABCDEFGH2345",
            reversed_at=T0 + timedelta(days=20),
            published_at=T0 + timedelta(days=20),
        ),
        AppealFiled(case_id="AP-ABCDEFGH2345", about_case_id=CASE, filed_at=T0 + timedelta(days=5)),
        AppealDecided(
            case_id="AP-ABCDEFGH2345",
            about_case_id=CASE,
            outcome="upheld",
            decided_at=T0 + timedelta(days=20),
        ),
        InquiryReceived(
            case_id="OA-INQUIRY23456",
            about_case_id=CASE,
            asked_at=T0 + timedelta(days=1),
            deadline_at=T0 + timedelta(days=15),
            question_count=2,
        ),
        InquiryAnswerPublished(
            case_id="OA-INQUIRY23456",
            about_case_id=CASE,
            asked_at=T0 + timedelta(days=1),
            deadline_at=T0 + timedelta(days=15),
            answered_at=T0 + timedelta(days=8),
            answers=[
                PublicInquiryAnswer(
                    question="Which clauses?", outcome="answered", text="Terms of Use §4."
                ),
                PublicInquiryAnswer(
                    question="Who reported it?",
                    outcome="refused",
                    text="Not disclosed: it would identify the reporter.",
                ),
            ],
        ),
        SubmissionIncomplete(
            reference="R-INCOMPLETE234",
            kind=SubmissionKind.DMCA_NOTICE,
            channel=Channel.EMAIL,
            missing=[
                MissingElement(
                    field="dmca.signature",
                    rule="required",
                    message="a physical or electronic signature is required",
                )
            ],
            requester_email="rights@example.org",
            in_reply_to="<abc@mail.example.org>",
            received_at=T0,
        ),
        CorrespondenceReceived(
            submission_id=SUBMISSION,
            channel=Channel.EMAIL,
            sender="reporter@example.org",
            summary="Two more diffs from today.",
            message_id="<def@mail.example.org>",
            received_at=T0,
        ),
        DecisionReversed(
            case_id=CASE,
            decision=_full_decision(),
            reason="Appeal upheld: the accounts were not the same person.",
            reversed_by="dave",
            appeal_case_id="OA-APPEAL234567",
            reversed_at=T0,
        ),
        DeadlineAtRisk(case_id=CASE, action_type="dmca-takedown", deadline_at=T0, detected_at=T0),
        DeadlineBreached(case_id=CASE, action_type="dmca-takedown", deadline_at=T0, detected_at=T0),
        InquiryAnswered(
            case_id="OA-INQUIRY23456",
            about_case_id=CASE,
            answers=[
                InquiryAnswer(question="Which clauses?", outcome="answered", text="ToU §4."),
                InquiryAnswer(
                    question="The legal determination?",
                    outcome="refused",
                    text="Legal privilege; disclosure would identify a victim.",
                ),
            ],
            requester=Requester(name="Curious Person", email="curious@example.org"),
            answered_by="bob",
            answered_at=T0,
        ),
        RestorationOrdered(
            case_id=CASE, wiki="enwiki", tampering_id="T-1", ordered_by="bob", ordered_at=T0
        ),
        CaseProgressed(case_id=CASE, submission_id="R-ABCDEFGH2345", stage="under-review", at=T0),
        DuplicateMerged(
            case_id=CASE,
            duplicate_case_id="OA-ZYXWVUTS9876",
            duplicate_submission_id="R-ZYXWVUTS9876",
            merged_by="alice",
            merged_at=T0,
        ),
        RetryOrdered(
            case_id=CASE,
            wiki="enwiki",
            kind="remove-rights",
            target="Troublesome Editor",
            ordered_by="bob",
            ordered_at=T0,
            reason="The role account may now remove rights.",
        ),
        ActionReversed(case_id=CASE, decision=_decision(), operations=[], reversed_at=T0),
        ActionExpired(case_id=CASE, decision=_decision(), operations=[], expired_at=T0),
        TamperingDetected(
            tampering_id="T-1",
            case_id=CASE,
            wiki="enwiki",
            target="User:Troublesome Editor",
            log_id=991,
            log_type="block",
            log_action="unblock",
            performer="Rogue Admin",
            comment="I disagree",
            logged_at=T0,
            detected_at=T0,
        ),
        ActionRestored(
            case_id=CASE,
            tampering_id="enwiki:991",
            operation=OperationOutcome(
                wiki="enwiki",
                kind="block",
                target="Troublesome Editor",
                status=OperationStatus.DONE,
                result_id=17,
            ),
            ordered_by="bob",
            restored_at=T0,
        ),
        AlertRaised(
            alert_key=f"tampering-detected:{CASE}:tamper-1",
            kind=AlertKind.TAMPERING_DETECTED,
            case_id=CASE,
            what_happened="Rogue Admin unblocked Troublesome Editor on enwiki.",
            what_to_do="Check the log entry and decide whether to restore the block.",
            case_url=f"https://review.example.org/console/cases/{CASE}",
            ops_address="ops@example.org",
            source_event_id="e-1",
            raised_at=T0,
        ),
        DeadLetterReplayed(
            dead_letter_topic="officeactions.notify.dlq",
            partition=1,
            offset=7,
            original_topic="officeactions.enforcement",
            original_event_id="e-2",
            case_id=CASE,
            replayed_by="ops",
            replayed_at=T0,
        ),
        *(
            model(
                case_id=CASE,
                upstream="review",
                upstream_event_id="e-1",
                upstream_event_type="officeactions.review.decision-approved.v1",
                reason="refused: signature: no trusted key made this signature",
                found_at=T0,
            )
            for model in UNRECONCILED.values()
        ),
    ]


def _full_decision() -> Decision:
    """A decision with every optional part filled, as review may publish it."""
    return _decision().model_copy(
        update={
            "language": "ru",
            "interaction_ban": InteractionBanTerms(
                counterparties=["Other Editor"],
                two_way=True,
                restrictions=["no replies to each other"],
                exceptions=["dispute resolution"],
                pages=["Talk:Example"],
            ),
            "rights_removal": RightsRemovalTerms(
                groups=["sysop"], reapply_criteria="After 12 months, by a new RfA."
            ),
            "event_ban": EventBanTerms(
                events=[
                    BannedEvent(
                        name="Conference 2027",
                        starts_on=date(2027, 8, 1),
                        ends_on=date(2027, 8, 4),
                    )
                ]
            ),
            "content": ContentTerms(
                pages=[PageAction(wiki="enwiki", title="Leaked", removal=Removal.DELETE)]
            ),
            "notices": NoticePlan(user_page=True),
            "evidence": [
                DecidedEvidence(
                    id="E1",
                    description="Threat on a talk page",
                    url="https://en.example.org/wiki/Special:Diff/123",
                    where=EvidenceLocation.ON_WIKI_PUBLIC,
                    audiences=[Audience.PUBLIC],
                )
            ],
            "determination": LegalDetermination(
                text="Counsel finds the threats credible under the Terms of Use.",
                disclosure=Disclosure.REDACTED,
                redacted_text="Counsel finds the threats credible.",
                grounds="Names a victim.",
                counsel_id="carol",
                determined_at=T0,
            ),
            "disclosure": DisclosurePlan(
                answers={
                    Question.CLAUSES: Release(audiences=[Audience.PUBLIC]),
                    Question.WHERE: Release(
                        audiences=[Audience.AFFECTED_USER], grounds="Victim safety."
                    ),
                }
            ),
        }
    )


def test_a_full_decision_round_trips() -> None:
    decision = _full_decision()
    assert Decision.model_validate_json(decision.model_dump_json()) == decision
    assert decision.disclosure.may_know(Question.CLAUSES, Audience.REQUESTER)
    assert not decision.disclosure.may_know(Question.WHERE, Audience.PUBLIC)
    assert decision.disclosure.may_know(Question.WHERE, Audience.AFFECTED_USER)
    assert not decision.disclosure.may_know(Question.PUBLIC_ACTIONS, Audience.AFFECTED_USER)
    assert decision.determination is not None
    assert decision.determination.disclosed_text() == "Counsel finds the threats credible."


def test_a_redacted_determination_needs_its_redaction_and_grounds() -> None:
    with pytest.raises(ValidationError, match="redacted_text"):
        LegalDetermination(
            text="x", disclosure=Disclosure.REDACTED, grounds="g", counsel_id="c", determined_at=T0
        )
    with pytest.raises(ValidationError, match="grounds"):
        LegalDetermination(
            text="x", disclosure=Disclosure.WITHHELD, counsel_id="c", determined_at=T0
        )


EXAMPLES = {type(e).__name__: e for e in _examples()}


def _record(data: EventData) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return to_kafka(to_cloudevent(data))


def _with_header(headers: list[tuple[str, bytes]], name: str, value: bytes | None):
    kept = [(n, v) for n, v in headers if n != name]
    return kept if value is None else [*kept, (name, value)]


# --- the catalogue ----------------------------------------------------------------------------


def test_catalogue_matches_the_contract() -> None:
    current = CATALOGUE_PATH.read_text(encoding="utf-8") if CATALOGUE_PATH.exists() else ""
    assert current == render_catalogue(), (
        f"{CATALOGUE_PATH} is out of date with casework/contract/; "
        "regenerate it with: python -m casework.catalogue"
    )


def test_every_event_type_is_in_the_examples() -> None:
    assert {m.__name__ for m in EVENT_TYPES.values()} == set(EXAMPLES)


@pytest.mark.parametrize("model", list(EVENT_TYPES.values()), ids=lambda m: m.__name__)
def test_event_type_names(model: type[EventData]) -> None:
    assert model.PRODUCER in SERVICES
    assert model.TYPE.startswith(f"{NAMESPACE}.{model.PRODUCER}.")
    assert re.search(r"\.v[1-9][0-9]*$", model.TYPE), model.TYPE
    assert EVENT_TYPES[model.TYPE] is model


# --- round trip -------------------------------------------------------------------------------


@pytest.mark.parametrize("example", list(EXAMPLES.values()), ids=list(EXAMPLES))
def test_round_trip_through_kafka(example: EventData) -> None:
    event = to_cloudevent(example)
    key, value, headers = to_kafka(event)
    received = from_kafka(key, value, headers)
    assert received == event
    assert from_cloudevent(received) == example


@pytest.mark.parametrize("example", list(EXAMPLES.values()), ids=list(EXAMPLES))
def test_key_is_the_case_or_submission_id(example: EventData) -> None:
    key, _, headers = _record(example)
    expected = example.event_subject()
    assert expected in (SUBMISSION, CASE, "R-INCOMPLETE234", "OA-INQUIRY23456", "AP-ABCDEFGH2345")
    assert key == expected.encode()
    assert dict(headers)["ce_subject"] == expected.encode()


def test_round_trip_keeps_time_and_source() -> None:
    event = CloudEvent(
        type=CaseOpened.TYPE,
        source="/officeactions/review",
        subject=CASE,
        data=EXAMPLES["CaseOpened"].model_dump(mode="json"),
        time=datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC),
        dataschema="https://example.org/schemas/case-opened.v1",
    )
    assert from_kafka(*to_kafka(event)) == event


def test_subject_falls_back_to_the_key() -> None:
    key, value, headers = _record(EXAMPLES["CaseOpened"])
    received = from_kafka(key, value, _with_header(headers, "ce_subject", None))
    assert received.subject == CASE


# --- malformed records ------------------------------------------------------------------------


def _malformed(**change: bytes | None) -> tuple[bytes, bytes | None, list[tuple[str, bytes]]]:
    key, value, headers = _record(EXAMPLES["CaseOpened"])
    for name, new in change.items():
        if name == "value":
            value = new
        else:
            headers = _with_header(headers, name, new)
    return key, value, headers


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"ce_id": None}, "ce_id"),
        ({"ce_type": None}, "ce_type"),
        ({"ce_specversion": b"0.3"}, "ce_specversion"),
        ({"value": b"{not json"}, "value"),
        ({"value": b"\xff\xfe"}, "value"),
        ({"value": b'["a", "list"]'}, "value"),
        ({"value": None}, "value"),
        ({"ce_time": b"2026-11-20T09:15:00"}, "ce_time"),
        ({"ce_time": b"yesterday"}, "ce_time"),
        ({"ce_id": b"\xff\xfeid"}, "ce_id"),
    ],
    ids=[
        "missing-id",
        "missing-type",
        "wrong-specversion",
        "non-json-value",
        "non-utf8-value",
        "json-array-value",
        "no-value",
        "naive-time",
        "unparseable-time",
        "non-utf8-header",
    ],
)
def test_from_kafka_rejects(change: dict[str, bytes | None], named: str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        from_kafka(*_malformed(**change))
    assert named in str(caught.value)


def test_from_kafka_rejects_a_record_without_subject_or_key() -> None:
    _, value, headers = _malformed(ce_subject=None)
    with pytest.raises(MalformedEvent, match="ce_subject"):
        from_kafka(None, value, headers)


def test_structured_form_round_trips_and_rejects_naive_time() -> None:
    event = to_cloudevent(EXAMPLES["DecisionDeclined"])
    assert CloudEvent.from_dict(json.loads(json.dumps(event.to_dict()))) == event
    broken = {**event.to_dict(), "time": "2026-11-20T09:15:00"}
    with pytest.raises(MalformedEvent, match="UTC offset"):
        CloudEvent.from_dict(broken)


# --- tolerant reader --------------------------------------------------------------------------


def test_unknown_fields_in_data_are_ignored() -> None:
    example = EXAMPLES["ActionEnforced"]
    event = to_cloudevent(example)
    data = json.loads(json.dumps(event.data))
    data["added_later"] = {"anything": [1, 2, 3]}
    data["decision"]["reviewer_notes"] = "optional field from a newer producer"
    data["operations"][0]["duration_ms"] = 120
    key, value, headers = to_kafka(CloudEvent(**{**event.__dict__, "data": data}))
    assert from_cloudevent(from_kafka(key, value, headers)) == example


def test_unknown_type_reads_as_none() -> None:
    event = to_cloudevent(EXAMPLES["CaseOpened"])
    unknown = CloudEvent(**{**event.__dict__, "type": "officeactions.review.case-reopened.v1"})
    assert from_cloudevent(unknown) is None
    newer = CloudEvent(**{**event.__dict__, "type": "officeactions.review.case-opened.v2"})
    assert from_cloudevent(newer) is None


def test_known_type_with_invalid_data_raises() -> None:
    event = to_cloudevent(EXAMPLES["CaseOpened"])
    missing = {k: v for k, v in event.data.items() if k != "case_id"}
    with pytest.raises(ValidationError):
        from_cloudevent(CloudEvent(**{**event.__dict__, "data": missing}))
    naive = {**event.data, "opened_at": "2026-11-20T09:15:00"}
    with pytest.raises(ValidationError):
        from_cloudevent(CloudEvent(**{**event.__dict__, "data": naive}))

"""Review's stored case file is its own versioned model, mapped from the contract.

Cases at each stage (opened from every example submission, drafted, signed, sent back,
approved, with every example decision, a pending reversal and every part review keeps)
go through a real SQLite store and come back equal; case files written before the stored
model existed still load; the stored shape is frozen; and contract models that change
shape but not values store the same bytes.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError, create_model

from casework.contract import (
    Attachment,
    Audience,
    BannedEventRef,
    BreachKind,
    Decision,
    DmcaNotice,
    EvidenceLocation,
    Part,
    ScreeningFlag,
    SignOff,
    SubmissionKind,
    SubmissionReceived,
)
from casework.contract.compat import breaks
from casework.contract.frozen import EXAMPLES_DIR, examples_of, load_json, render_json
from casework.store.sqlite import SqliteStore
from services.review.adapters.stored import from_document, stored_schema, to_document
from services.review.domain.case import (
    FINAL_STATES,
    Barred,
    Case,
    CaseLink,
    EvidenceRecord,
    InquiryResponse,
    LinkKind,
    Note,
    PendingReversal,
    Tampering,
    alert_at,
    sort_key,
)
from services.review.domain.opening import open_case
from services.review.domain.outcome import Delivery, OperationState, Outcome
from services.review.usecases.base import CASES
from tests.test_review_domain import CHAIN, OPENED, POLICY, drafted, opened, sign, sign_chain

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "services/review/adapters/schemas/stored-case-v1.json"
LATER = OPENED + timedelta(days=2)


def examples(key: str) -> dict[str, dict[str, Any]]:
    """Every example event carrying `key`, by event type and example name."""
    found = {}
    for folder in sorted(p for p in EXAMPLES_DIR.iterdir() if p.is_dir()):
        for name, data in examples_of(folder.name).items():
            if isinstance(data, dict) and key in data:
                found[f"{folder.name}/{name}"] = data
    return found


def example_decisions() -> dict[str, Decision]:
    return {k: Decision.model_validate(v["decision"]) for k, v in examples("decision").items()}


def example_submissions() -> dict[str, SubmissionReceived]:
    found = {
        name: SubmissionReceived.model_validate(data)
        for name, data in examples("submission_id").items()
        if name.startswith(SubmissionReceived.TYPE + "/")
    }
    found["every-submission-part"] = next(iter(found.values())).model_copy(
        update={
            "kind": SubmissionKind.BREACH_REPORT,
            "refers_to": "OA-ABCDEFGH2345",
            "questions": ["Why?"],
            "dmca": DmcaNotice(
                copyrighted_work="A photo",
                infringing_material="Its copy",
                locations=["https://en.example.org/wiki/File:X.jpg"],
                contact_address="1 Road",
                good_faith_statement=True,
                accuracy_statement=True,
                signature="Owner",
            ),
            "breach": BreachKind.EVENT_PRESENCE,
            "banned_event": BannedEventRef(name="Con", on=date(2027, 8, 2)),
            "named_staff": ["bob"],
            "screening": [ScreeningFlag(rule="threat", reason="Threat", matched="hurt")],
            "duplicate_of": "R-BBBBBBBB2345",
            "attachments": [
                Attachment(name="a.png", content_type="image/png", size=3, sha256="0" * 64)
            ],
        }
    )
    return {k: v for k, v in found.items() if v.action_type in POLICY.action_types}


def everything_review_keeps(case: Case) -> Case:
    signoff = SignOff(
        level="ts-manager",
        staff_id="bob",
        verdict="approve",
        comment="reverse it",
        languages=["en"],
        signed_at=LATER,
    )
    return case.model_copy(
        update={
            "assignee": "alice",
            "notes": [Note(id="N1", author="alice", text="note", at=LATER)],
            "evidence": [
                EvidenceRecord(
                    id="E9",
                    description="Diff",
                    url="https://en.example.org/wiki/Special:Diff/9",
                    where=EvidenceLocation.OFF_WIKI_PRIVATE,
                    audiences=[Audience.AFFECTED_USER],
                    added_by="alice",
                    added_at=LATER,
                )
            ],
            "links": [CaseLink(kind=LinkKind.APPEAL_OF, case_id="OA-BBBBBBBB2345")],
            "barred": [Barred(who="Troublesome Editor", reason="named-in-report")],
            "statement_of_facts": "Facts.",
            "past_signoffs": [signoff],
            "pending_reversal": PendingReversal(
                grounds="appeal-upheld",
                reason="New evidence",
                appeal_case_id="OA-CCCCCCCC2345",
                requested_by="bob",
                requested_at=LATER,
                approvals=[signoff],
                levels_held={"bob": ["ts-manager"]},
                needed=2,
            ),
            "waiting_for_requester": True,
            "questions": ["Which wiki?"],
            "inquiry_answers": [InquiryResponse(question="Q", outcome="refused", text="No")],
            "answers_held_back": True,
            "held_back_grounds": "The answer would identify a reporter.",
            "tamperings": [
                Tampering(
                    tampering_id="enwiki:77",
                    wiki="enwiki",
                    target="User:X",
                    performer="Admin",
                    log_action="unblock",
                    logged_at=LATER,
                    restoration_ordered_by="bob",
                )
            ],
            "outcome": Outcome(
                status="partly-enforced",
                revision=1,
                enforced_at=LATER,
                operations=[
                    OperationState(wiki="enwiki", kind="block", target="X", status="done", at=LATER)
                ],
                wikis={"enwiki": "done"},
                deliveries=[
                    Delivery(audience=Audience.PUBLIC, channel="wiki", status="sent", at=LATER)
                ],
                told={"public": "sent"},
            ),
            "seen_messages": ["m-1"],
        }
    )


def named_publicly(case: Case) -> Case:
    """The case's submission from an asker who chose to be named on the public portal."""
    assert case.submission is not None and case.submission.requester is not None
    requester = case.submission.requester.model_copy(update={"named_publicly": True})
    submission = case.submission.model_copy(update={"requester": requester})
    return case.model_copy(update={"submission": submission})


def cases() -> dict[str, Case]:
    found: dict[str, Case] = {"opened": opened(), "drafted": drafted()}
    found["sent-back"] = sign(drafted(), "alice", "case-handler", "send-back")[0]
    found["approved"] = sign_chain(drafted(), CHAIN)[0]
    found["conduct-warning"] = drafted("conduct-warning")
    for name, submission in example_submissions().items():
        found[name] = open_case(submission, POLICY, OPENED)[0]
    for name, decision in example_decisions().items():
        found[name] = found["approved"].model_copy(update={"decision": decision})
    found["everything"] = everything_review_keeps(named_publicly(found["approved"]))
    return found


CASES_BY_NAME = cases()


def legacy_document(case: Case) -> dict[str, Any]:
    """What Case.to_document wrote before the stored model existed."""
    doc = case.model_dump(mode="json")
    doc["_id"] = case.id
    doc["urgency"] = sort_key(case.deadline.due_at if case.deadline else None)
    doc["alert_at"] = sort_key(alert_at(case))
    doc["closed"] = case.state in FINAL_STATES
    return doc


def test_every_example_and_part_is_covered() -> None:
    assert {*example_decisions(), "every-submission-part"} <= set(CASES_BY_NAME)
    assert any(c.submission and c.submission.dmca for c in CASES_BY_NAME.values())
    assert any(c.pending_reversal for c in CASES_BY_NAME.values())
    assert any(len(c.signoffs) == len(CHAIN) for c in CASES_BY_NAME.values())
    everything = CASES_BY_NAME["everything"]
    assert everything.submission and everything.submission.requester
    assert everything.submission.requester.named_publicly and everything.answers_held_back


@pytest.mark.parametrize("name", sorted(CASES_BY_NAME))
def test_stored_document_is_the_shape_written_before(name: str) -> None:
    case = CASES_BY_NAME[name]
    doc = to_document(case)
    assert doc == {**legacy_document(case), "schema": 1}
    assert from_document(doc) == case
    assert from_document(legacy_document(case)) == case


async def test_every_case_round_trips_through_sqlite(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "review.sqlite3"))
    try:
        for i, (name, case) in enumerate(sorted(CASES_BY_NAME.items())):
            case = case.model_copy(update={"id": f"OA-STORED{i:04d}"})
            legacy = case.model_copy(update={"id": f"OA-LEGACY{i:04d}"})
            await store.insert(CASES, to_document(case))
            await store.insert(CASES, legacy_document(legacy))
            doc = await store.get(CASES, case.id)
            old = await store.get(CASES, legacy.id)
            assert doc is not None and old is not None
            assert from_document(doc) == case, name
            assert from_document(old) == legacy, name
    finally:
        await store.close()


def test_a_document_without_schema_reads_as_version_one_and_a_later_version_is_refused() -> None:
    case = CASES_BY_NAME["everything"]
    doc = to_document(case)
    assert doc["schema"] == 1
    assert from_document({k: v for k, v in doc.items() if k != "schema"}) == case
    with pytest.raises(ValidationError, match="schema"):
        from_document({**doc, "schema": 2})


def test_stored_documents_match_the_frozen_schema() -> None:
    validator = Draft202012Validator(
        load_json(SCHEMA_FILE), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    for name, case in CASES_BY_NAME.items():
        errors = [e.message for e in validator.iter_errors(to_document(case))]
        assert errors == [], name


def test_stored_shape_is_frozen() -> None:
    frozen, current = load_json(SCHEMA_FILE), stored_schema()
    found = breaks(frozen, current)
    assert not found, (
        "StoredCase no longer reads the case files stored as version 1 "
        f"({SCHEMA_FILE.name}), or writes what version-1 readers refuse:\n"
        + "".join(f"  - {b}\n" for b in found)
        + "Keep the v1 models as they are and add StoredCaseV2 with schema Literal[2], freeze "
        "its schema as stored-case-v2.json, write v2 in to_document, and read both versions "
        "in from_document (v1 mapped to the case as today)."
    )
    assert current == frozen, (
        f"StoredCase's schema changed compatibly (no break) but {SCHEMA_FILE.name} was not "
        "updated. Version 1 still holds: rewrite the file from stored_schema() "
        "(casework.contract.frozen.render_json) and commit it with the change."
    )
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_json(frozen)


def reshaped(model: type[Part], value: Part) -> Part:
    """`value` as a v2 of its contract model: the same fields in reverse order, and one more."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in reversed(model.model_fields.items())
    }
    v2 = create_model(f"{model.__name__}V2", __base__=Part, added=(str, "new"), **fields)
    moved = v2.model_validate(value.model_dump())
    assert json.dumps(moved.model_dump(mode="json")) != json.dumps(value.model_dump(mode="json"))
    return moved


def test_contract_models_of_another_shape_store_the_same_document() -> None:
    case = CASES_BY_NAME["everything"]
    assert case.decision is not None and case.submission is not None
    moved = case.model_copy(
        update={
            "decision": reshaped(Decision, case.decision),
            "signoffs": [reshaped(SignOff, s) for s in case.signoffs],
        }
    )
    assert json.dumps(to_document(moved)) == json.dumps(to_document(case))
    assert from_document(to_document(moved)) == case


def test_a_submission_of_another_shape_stores_the_same_document() -> None:
    case = CASES_BY_NAME["every-submission-part"]
    assert case.submission is not None
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in reversed(SubmissionReceived.model_fields.items())
    }
    v2 = create_model("SubmissionV2", added=(str, "new"), **fields)
    moved = case.model_copy(update={"submission": v2.model_validate(case.submission.model_dump())})
    assert json.dumps(to_document(moved)) == json.dumps(to_document(case))


def test_case_times_are_kept_to_the_microsecond() -> None:
    at = datetime(2026, 11, 20, 9, 0, 0, 123456, tzinfo=UTC)
    case = CASES_BY_NAME["opened"].model_copy(update={"opened_at": at})
    assert from_document(to_document(case)).opened_at == at

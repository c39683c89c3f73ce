"""From an approved decision to wiki operations, and the record kept of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from casework.contract import (
    AffectedUser,
    ClauseGround,
    Decision,
    DecisionApproved,
    OperationStatus,
    SignOff,
)
from casework.policy import load_policy
from services.enforcement.domain import (
    EnforcementRecord,
    OpKind,
    OpState,
    Unsupported,
    completed,
    plan,
)

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
FARM = ["dewiki", "enwiki"]
LOG_PAGE = "Office actions/Log"
CASE = "OA-ABCDEFGH2345"
ACCOUNT = "Troublesome Editor"
APPROVED_AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW = APPROVED_AT + timedelta(seconds=5)


def approved(action: str = "global-ban", **decision: Any) -> DecisionApproved:
    clause = POLICY.clauses.items["ucoc-3-1"]
    fields: dict[str, Any] = {
        "action_type": action,
        "subject": AffectedUser(account=ACCOUNT, email="te@example.org"),
        "grounds": [
            ClauseGround(
                id="ucoc-3-1",
                catalogue_version=POLICY.clauses.version,
                source=clause.source,
                section=clause.section,
                text=clause.text,
            )
        ],
        "public_rationale": "Sustained cross-wiki harassment.",
        "appealable": POLICY.action(action).appealable,
    }
    signoff = SignOff(
        level="case-handler",
        staff_id="alice",
        verdict="approve",
        comment="ok",
        languages=["en"],
        signed_at=APPROVED_AT,
    )
    return DecisionApproved(
        case_id=CASE,
        decision=Decision(**{**fields, **decision}),
        signoffs=[signoff],
        approved_at=APPROVED_AT,
    )


def planned(action: str = "global-ban", **decision: Any) -> EnforcementRecord:
    return plan(approved(action, **decision), POLICY, FARM, LOG_PAGE, NOW)


# --- plan -------------------------------------------------------------------------------------


def test_global_ban_blocks_on_every_wiki_of_the_farm() -> None:
    record = planned()
    assert [op.wiki for op in record.operations] == FARM
    for op in record.operations:
        assert op.kind is OpKind.BLOCK
        assert op.target == ACCOUNT
        assert op.expiry == "infinite"
        assert op.state is OpState.PLANNED
        assert CASE in op.reason
        assert f"[[{LOG_PAGE}]]" in op.reason
        assert "Global ban" in op.reason
    assert record.case_id == CASE
    assert record.received_at == NOW
    assert record.completed_at is None
    assert record.pending == [0, 1]


def test_expiry_is_the_iso_time() -> None:
    until = datetime(2027, 5, 20, 0, 0, tzinfo=UTC)
    record = planned(expires_at=until)
    assert {op.expiry for op in record.operations} == {until.isoformat()}
    assert datetime.fromisoformat(record.operations[0].expiry) == until


def test_decision_wikis_restrict_the_farm() -> None:
    record = planned(wikis=["enwiki"])
    assert [op.wiki for op in record.operations] == ["enwiki"]


def test_a_wiki_outside_the_farm_is_unsupported() -> None:
    with pytest.raises(Unsupported, match="frwiki"):
        planned(wikis=["enwiki", "frwiki"])


@pytest.mark.parametrize("action", ["conduct-warning", "event-ban"])
def test_record_only_actions_plan_no_operations(action: str) -> None:
    record = planned(action)
    assert record.operations == []
    assert record.pending == []


@pytest.mark.parametrize(
    "action", ["dmca-takedown", "child-protection", "interaction-ban", "office-page-protection"]
)
def test_enforcements_not_implemented_yet_are_unsupported(action: str) -> None:
    with pytest.raises(Unsupported, match="not implemented"):
        planned(action)


# --- completion -------------------------------------------------------------------------------


def test_completed_maps_operations_to_outcomes() -> None:
    record = planned()
    done = record.operations[0].model_copy(update={"state": OpState.DONE, "result_id": 101})
    skipped = record.operations[1].model_copy(
        update={"state": OpState.SKIPPED, "result_id": 7, "error_info": "already blocked"}
    )
    record = record.model_copy(update={"operations": [done, skipped]})
    assert record.pending == []
    finished, event = completed(record, NOW + timedelta(minutes=1))
    assert finished.completed_at == NOW + timedelta(minutes=1)
    assert event.case_id == CASE
    assert event.decision == record.decision
    assert event.enforced_at == finished.completed_at
    assert [(o.wiki, o.kind, o.target, o.status, o.result_id) for o in event.operations] == [
        ("dewiki", "block", ACCOUNT, OperationStatus.DONE, 101),
        ("enwiki", "block", ACCOUNT, OperationStatus.SKIPPED, 7),
    ]


def test_completed_with_no_operations() -> None:
    finished, event = completed(planned("conduct-warning"), NOW)
    assert event.operations == []
    assert finished.completed_at == NOW


# --- the stored record ------------------------------------------------------------------------


def test_record_document_round_trip_and_complete_flag() -> None:
    record = planned(expires_at=datetime(2027, 1, 1, tzinfo=UTC))
    doc = record.to_document()
    assert doc["_id"] == CASE
    assert doc["complete"] is False
    assert EnforcementRecord.from_document(doc) == record

    finished, _ = completed(record, NOW)
    doc = finished.to_document()
    assert doc["complete"] is True
    assert EnforcementRecord.from_document(doc) == finished


def test_pending_excludes_finished_operations_only() -> None:
    record = planned()
    failed = record.operations[0].model_copy(update={"state": OpState.FAILED})
    skipped = record.operations[1].model_copy(update={"state": OpState.SKIPPED})
    record = record.model_copy(update={"operations": [failed, skipped]})
    assert record.pending == [0]

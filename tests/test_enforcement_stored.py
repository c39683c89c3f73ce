"""Enforcement's stored document is its own versioned model, mapped from the contract.

Every record the domain makes, from the contract's example decisions and each kind of
enforcement, at each stage of its life, goes through a real SQLite store and comes back
equal; documents written before the stored model existed still load; the stored shape is
frozen; and a contract Decision that changes shape but not values stores the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError, create_model

from casework.contract import (
    BannedEvent,
    ContentTerms,
    Decision,
    EventBanTerms,
    InteractionBanTerms,
    PageAction,
    Part,
    Removal,
    RightsRemovalTerms,
)
from casework.contract.compat import breaks
from casework.contract.frozen import EXAMPLES_DIR, examples_of, load_json, render_json
from casework.store.sqlite import SqliteStore
from services.enforcement.adapters.store import ENFORCEMENTS
from services.enforcement.adapters.stored import from_document, stored_schema, to_document
from services.enforcement.domain import (
    Ending,
    EnforcementRecord,
    OpKind,
    OpState,
    begin_ending,
    completed,
    ended,
)
from tests.test_enforcement_domain import CASE, NOW, planned

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "services/enforcement/adapters/schemas/stored-enforcement-v1.json"
LATER = NOW + timedelta(hours=2)


def example_decisions() -> dict[str, Decision]:
    """Every decision the contract's example events carry, by event type and example name."""
    found = {}
    for folder in sorted(p for p in EXAMPLES_DIR.iterdir() if p.is_dir()):
        for name, data in examples_of(folder.name).items():
            if isinstance(data, dict) and "decision" in data:
                found[f"{folder.name}/{name}"] = Decision.model_validate(data["decision"])
    return found


def kinds() -> dict[str, EnforcementRecord]:
    """A record of each enforcement kind, planned by the domain's helpers."""
    x, y = "User:Goodfaith3", "Leaked"
    return {
        "global-ban": planned(),
        "global-ban-expiring": planned(expires_at=datetime(2027, 1, 1, tzinfo=UTC)),
        "global-lock": planned("global-lock"),
        "event-ban": planned(
            "event-ban",
            event_ban=EventBanTerms(
                events=[
                    BannedEvent(name="Con", starts_on=date(2027, 8, 1), ends_on=date(2027, 8, 4))
                ]
            ),
        ),
        "interaction-ban": planned(
            "interaction-ban",
            interaction_ban=InteractionBanTerms(
                counterparties=["Goodfaith3"], pages=[x], namespaces=[3]
            ),
        ),
        "rights-removal": planned(
            "removal-of-advanced-rights",
            rights_removal=RightsRemovalTerms(groups=["sysop"], reapply_criteria="RfA"),
        ),
        "dmca-takedown": planned(
            "dmca-takedown",
            content=ContentTerms(
                pages=[
                    PageAction(wiki="enwiki", title=y, removal=Removal.DELETE, protection="sysop"),
                    PageAction(
                        wiki="enwiki", title="B", removal=Removal.REVISION_DELETE, revisions=[5]
                    ),
                ]
            ),
        ),
        "child-protection": planned(
            "child-protection", content=ContentTerms(pages=[PageAction(wiki="dewiki", title=y)])
        ),
        "office-page-protection": planned(
            "office-page-protection",
            content=ContentTerms(pages=[PageAction(wiki="dewiki", title=y)]),
        ),
        "conduct-warning": planned("conduct-warning"),
    }


def stages(record: EnforcementRecord) -> Iterator[tuple[str, EnforcementRecord]]:
    """The record as it is stored at each point of its life."""
    yield "planned", record
    worked = record.model_copy(
        update={"notes": [*record.notes, "a note"], "restorations": ["enwiki:77"]}
    )
    for i, op in enumerate(record.operations):
        if i % 2 == 0:
            op = op.model_copy(
                update={
                    "state": OpState.DONE,
                    "result_id": 1000 + i,
                    "done_at": NOW,
                    "log_mark": 500 + i,
                    "removed_groups": ["sysop"],
                    "prior_protection": {"edit": "autoconfirmed"},
                    "hidden_ids": ["12", "13"],
                }
            )
        else:
            op = op.model_copy(
                update={
                    "attempts": 2,
                    "error_code": "ratelimited",
                    "error_info": "slow down",
                    "next_attempt_at": NOW + timedelta(seconds=30),
                }
            )
        worked = worked.with_operation(i, op)
    yield "worked", worked
    done, _ = completed(worked, LATER)
    yield "completed", done
    reversing = begin_ending(done, Ending.REVERSED, "appeal upheld")
    yield "reversing", reversing
    lifted = reversing
    for i in reversing.to_end():
        update = {"ended": True} if i % 4 == 0 else {"end_error": "gone", "end_attempts": 3}
        lifted = lifted.with_operation(i, lifted.operations[i].model_copy(update=update))
    yield "reversed", ended(lifted, LATER)[0]
    yield "expired", ended(begin_ending(done, Ending.EXPIRED, "term over"), LATER)[0]


def notice(record: EnforcementRecord) -> EnforcementRecord:
    """A notice operation (planned only with a renderer), to store its text too."""
    if not record.operations:
        return record
    op = record.operations[0].model_copy(
        update={"kind": OpKind.NOTICE, "text": "Notice of case\n", "flags": None}
    )
    return record.model_copy(update={"operations": [*record.operations, op]})


def records() -> dict[str, EnforcementRecord]:
    found = {}
    planned_ones = {**kinds(), "global-ban-with-notice": notice(planned())}
    for name, decision in example_decisions().items():
        planned_ones[name] = planned(decision.action_type, **dict(decision))
    for name, record in planned_ones.items():
        for stage, staged in stages(record):
            found[f"{name}/{stage}"] = staged
    return found


RECORDS = records()


def legacy_document(record: EnforcementRecord) -> dict[str, Any]:
    """What EnforcementRecord.to_document wrote before the stored model existed."""
    doc = record.model_dump(mode="json")
    doc["_id"] = record.case_id
    doc["complete"] = record.completed_at is not None
    doc["ending_open"] = record.ending is not None and record.ended_at is None
    doc["expiry_open"] = record.decision.expires_at is not None and record.ending is None
    return doc


def test_every_example_decision_and_kind_is_covered() -> None:
    names = {name.split("/")[0] for name in RECORDS}
    assert {name.rsplit("/", 1)[0] for name in example_decisions()} <= names
    assert set(kinds()) <= names
    assert any(op.flags for r in RECORDS.values() for op in r.operations)
    assert any(r.decision.determination for r in RECORDS.values())


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_stored_document_is_the_shape_written_before(name: str) -> None:
    record = RECORDS[name]
    doc = to_document(record)
    assert doc == {**legacy_document(record), "schema": 1}
    assert from_document(doc) == record
    assert from_document(legacy_document(record)) == record


async def test_every_record_round_trips_through_sqlite(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "enforcement.sqlite3"))
    try:
        for i, (name, record) in enumerate(sorted(RECORDS.items())):
            record = record.model_copy(update={"case_id": f"{CASE}-{i}"})
            legacy = record.model_copy(update={"case_id": f"{CASE}-legacy-{i}"})
            await store.insert(ENFORCEMENTS, to_document(record))
            await store.insert(ENFORCEMENTS, legacy_document(legacy))
            doc = await store.get(ENFORCEMENTS, record.case_id)
            old = await store.get(ENFORCEMENTS, legacy.case_id)
            assert doc is not None and old is not None
            loaded = from_document(doc)
            assert loaded == record, name
            assert from_document(old) == legacy, name
            _, enforced = completed(loaded, LATER)
            assert enforced.decision == record.decision, name
    finally:
        await store.close()


async def test_action_enforced_from_a_loaded_record_carries_the_approved_decision(
    tmp_path: Path,
) -> None:
    for name, decision in example_decisions().items():
        record = planned(decision.action_type, **dict(decision))
        assert record.decision == decision
        store = await SqliteStore.open(str(tmp_path / f"{name.replace('/', '-')}.sqlite3"))
        try:
            await store.insert(ENFORCEMENTS, to_document(record))
            doc = await store.get(ENFORCEMENTS, record.case_id)
        finally:
            await store.close()
        assert doc is not None
        _, enforced = completed(from_document(doc), LATER)
        assert enforced.decision == decision, name
        assert enforced.decision.model_dump(mode="json") == decision.model_dump(mode="json")


def test_a_document_without_schema_reads_as_version_one_and_a_later_version_is_refused() -> None:
    record = RECORDS["global-ban/completed"]
    doc = to_document(record)
    assert doc["schema"] == 1
    assert from_document({k: v for k, v in doc.items() if k != "schema"}) == record
    with pytest.raises(ValidationError, match="schema"):
        from_document({**doc, "schema": 2})


def test_stored_documents_match_the_frozen_schema() -> None:
    validator = Draft202012Validator(
        load_json(SCHEMA_FILE), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    for name, record in RECORDS.items():
        errors = [e.message for e in validator.iter_errors(to_document(record))]
        assert errors == [], name


def test_stored_shape_is_frozen() -> None:
    frozen, current = load_json(SCHEMA_FILE), stored_schema()
    found = breaks(frozen, current)
    assert not found, (
        "StoredEnforcement no longer reads the documents stored as version 1 "
        f"({SCHEMA_FILE.name}), or writes what version-1 readers refuse:\n"
        + "".join(f"  - {b}\n" for b in found)
        + "Keep the v1 models as they are and add StoredEnforcementV2 with schema Literal[2], "
        "freeze its schema as stored-enforcement-v2.json, write v2 in to_document, and read "
        "both versions in from_document (v1 mapped to the record as today)."
    )
    assert current == frozen, (
        f"StoredEnforcement's schema changed compatibly (no break) but {SCHEMA_FILE.name} was "
        "not updated. Version 1 still holds: rewrite the file from stored_schema() "
        "(casework.contract.frozen.render_json) and commit it with the change."
    )
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_json(frozen)


def test_a_contract_decision_of_another_shape_stores_the_same_document() -> None:
    decision = example_decisions()["officeactions.review.decision-approved.v1/every-decision-part"]
    record = planned(decision.action_type, **dict(decision))
    # A v2 of the contract: the same fields in another order, and one more.
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in reversed(Decision.model_fields.items())
    }
    v2_model = create_model("DecisionV2", __base__=Part, reviewed_by=(str, "dana"), **fields)
    v2 = v2_model.model_validate(decision.model_dump())
    assert json.dumps(v2.model_dump(mode="json")) != json.dumps(decision.model_dump(mode="json"))

    moved = record.model_copy(update={"decision": v2})
    assert json.dumps(to_document(moved)) == json.dumps(to_document(record))
    assert "reviewed_by" not in json.dumps(to_document(moved))
    assert from_document(to_document(moved)) == record


def test_an_operation_stored_before_untouched_existed_reads_as_tried() -> None:
    """Absent, it may have been tried: the next attempt looks for its earlier work."""
    record = planned()
    doc = to_document(record)
    for op in doc["operations"]:
        del op["untouched"]
    assert record.operations and all(op.untouched for op in record.operations)
    assert not any(op.untouched for op in from_document(doc).operations)

"""From an approved decision to wiki operations, and the record kept of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from casework.contract import (
    AffectedUser,
    ClauseGround,
    ContentTerms,
    Decision,
    DecisionApproved,
    InteractionBanTerms,
    NoticePlan,
    OperationStatus,
    PageAction,
    Removal,
    RightsRemovalTerms,
)
from casework.policy import Enforcement, load_policy
from services.enforcement.adapters import notices
from services.enforcement.adapters.notices import NoticeRenderer, notice_marker, reversal_line
from services.enforcement.adapters.stored import from_document, to_document
from services.enforcement.domain import (
    PLANNERS,
    EnforcementRecord,
    OpKind,
    OpState,
    Unsupported,
    backoff,
    completed,
    plan,
    tampered,
)
from services.enforcement.policy import rules_of
from tests.fixtures.keys import full_chain

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
RULES = rules_of(POLICY)
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
    return DecisionApproved(
        case_id=CASE,
        decision=Decision(**{**fields, **decision}),
        signoffs=full_chain(action, POLICY, APPROVED_AT),
        approved_at=APPROVED_AT,
    )


def planned(action: str = "global-ban", **decision: Any) -> EnforcementRecord:
    return plan(approved(action, **decision), POLICY, RULES, FARM, LOG_PAGE, NOW)


# --- plan -------------------------------------------------------------------------------------


def test_every_enforcement_kind_has_its_planner() -> None:
    assert set(PLANNERS) == set(Enforcement)
    used = {action.enforcement for action in POLICY.action_types.values()}
    assert used <= set(PLANNERS)


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


def test_missing_terms_are_unsupported() -> None:
    for action in ("dmca-takedown", "interaction-ban", "removal-of-advanced-rights"):
        with pytest.raises(Unsupported, match="needs"):
            planned(action)


def test_global_lock_where_the_farm_has_centralauth() -> None:
    record = plan(approved(), POLICY, RULES, FARM, LOG_PAGE, NOW, central_wiki="enwiki")
    assert [(op.wiki, op.kind) for op in record.operations] == [
        ("dewiki", OpKind.BLOCK),
        ("enwiki", OpKind.BLOCK),
        ("enwiki", OpKind.GLOBAL_LOCK),
    ]
    flags = record.operations[0].flags
    assert flags == RULES.sitewide_block


def test_interaction_ban_partial_block_only_where_pages_are_listed() -> None:
    terms = InteractionBanTerms(counterparties=["Goodfaith3"])
    assert planned("interaction-ban", interaction_ban=terms).operations == []
    assert "Goodfaith3" in planned("interaction-ban", interaction_ban=terms).notes[0]
    terms = InteractionBanTerms(
        counterparties=["Goodfaith3"], pages=["User:Goodfaith3"], namespaces=[3]
    )
    record = planned("interaction-ban", interaction_ban=terms)
    assert {op.kind for op in record.operations} == {OpKind.PARTIAL_BLOCK}
    assert record.operations[0].pages == ["User:Goodfaith3"]
    assert record.operations[0].namespaces == [3]


def test_rights_removal_per_wiki_with_reapply_criteria_noted() -> None:
    terms = RightsRemovalTerms(groups=["sysop"], reapply_criteria="RfA after a year")
    record = planned("removal-of-advanced-rights", rights_removal=terms)
    assert [(op.wiki, op.kind, op.groups) for op in record.operations] == [
        ("dewiki", OpKind.REMOVE_RIGHTS, ["sysop"]),
        ("enwiki", OpKind.REMOVE_RIGHTS, ["sysop"]),
    ]
    assert "RfA after a year" in record.notes[0]


def test_content_actions_by_removal() -> None:
    pages = ContentTerms(
        pages=[
            PageAction(wiki="enwiki", title="A", removal=Removal.DELETE, protection="sysop"),
            PageAction(wiki="enwiki", title="B", removal=Removal.REVISION_DELETE, revisions=[5]),
        ]
    )
    record = planned("dmca-takedown", content=pages)
    assert [(op.target, op.kind) for op in record.operations] == [
        ("A", OpKind.DELETE),
        ("A", OpKind.PROTECT),
        ("B", OpKind.HIDE_REVISIONS),
    ]
    assert not record.operations[2].suppress and record.operations[2].revisions == [5]


def test_child_protection_deletes_and_suppresses_first_in_priority() -> None:
    pages = ContentTerms(pages=[PageAction(wiki="dewiki", title="X")])
    record = planned("child-protection", content=pages)
    assert [(op.kind, op.archived, op.suppress) for op in record.operations] == [
        (OpKind.DELETE, False, False),
        (OpKind.HIDE_REVISIONS, True, True),
    ]
    assert record.priority > planned().priority


def test_court_order_protects_at_the_office_level() -> None:
    pages = ContentTerms(pages=[PageAction(wiki="dewiki", title="X")])
    record = planned("office-page-protection", content=pages)
    [op] = record.operations
    assert (op.kind, op.protection) == (OpKind.PROTECT, RULES.office_protection)


def test_content_on_a_wiki_outside_the_farm_is_unsupported() -> None:
    pages = ContentTerms(pages=[PageAction(wiki="frwiki", title="X")])
    with pytest.raises(Unsupported, match="frwiki"):
        planned("dmca-takedown", content=pages)


def test_notices_on_user_page_and_concerned_pages_carry_the_case() -> None:
    pages = ContentTerms(pages=[PageAction(wiki="dewiki", title="X", removal=Removal.DELETE)])
    record = plan(
        approved(
            "dmca-takedown",
            content=pages,
            notices=NoticePlan(user_page=True, concerned_pages=True),
        ),
        POLICY,
        RULES,
        FARM,
        LOG_PAGE,
        NOW,
        notice=lambda case, page: f"notice {case} on {page}",
    )
    notices = [op for op in record.operations if op.kind is OpKind.NOTICE]
    assert [(op.wiki, op.target) for op in notices] == [
        ("dewiki", "X"),
        ("dewiki", f"User:{ACCOUNT}"),
        ("enwiki", f"User:{ACCOUNT}"),
    ]
    assert all(CASE in op.text and CASE in op.reason for op in notices)


def test_operations_on_one_target_run_in_plan_order() -> None:
    pages = ContentTerms(pages=[PageAction(wiki="dewiki", title="X", protection="sysop")])
    record = planned("child-protection", content=pages)
    assert record.runnable(NOW) == [0]
    first = record.operations[0].model_copy(update={"state": OpState.DONE})
    assert record.with_operation(0, first).runnable(NOW) == [1]
    later = record.operations[0].model_copy(
        update={"attempts": 1, "next_attempt_at": NOW + timedelta(seconds=30)}
    )
    assert record.with_operation(0, later).runnable(NOW) == []


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n, 1.0, 5.0).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


def test_tampering_matches_only_what_the_case_put_in_place() -> None:
    record = planned()
    done_at = NOW + timedelta(seconds=1)
    done = record.operations[0].model_copy(
        update={"state": OpState.DONE, "result_id": 3, "done_at": done_at}
    )
    record = record.with_operation(0, done)
    later = done_at + timedelta(seconds=5)

    def match(wiki: str, log: str, action: str, title: str, at: datetime = later) -> int | None:
        return tampered(
            record,
            wiki=wiki,
            log_type=log,
            log_action=action,
            title=title,
            params={},
            log_id=10,
            logged_at=at,
        )

    user = f"User:{ACCOUNT}"
    assert match("dewiki", "block", "unblock", user) == 0
    assert match("enwiki", "block", "unblock", user) is None  # not done there yet
    assert match("dewiki", "block", "unblock", "User:Someone else") is None
    assert match("dewiki", "protect", "unprotect", user) is None
    assert match("dewiki", "block", "unblock", user, at=NOW) is None  # before it was done
    # With the wiki's log id read once done, the ids decide (log times are whole seconds).
    marked = record.operations[0].model_copy(update={"log_mark": 10})
    record = record.with_operation(0, marked)
    assert match("dewiki", "block", "unblock", user) is None
    record = record.with_operation(0, marked.model_copy(update={"log_mark": 9}))
    assert match("dewiki", "block", "unblock", user, at=NOW) == 0


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
    doc = to_document(record)
    assert doc["_id"] == CASE
    assert doc["complete"] is False
    assert from_document(doc) == record

    finished, _ = completed(record, NOW)
    doc = to_document(finished)
    assert doc["complete"] is True
    assert from_document(doc) == finished


def test_pending_excludes_finished_operations_only() -> None:
    record = planned()
    failed = record.operations[0].model_copy(update={"state": OpState.FAILED})
    skipped = record.operations[1].model_copy(update={"state": OpState.SKIPPED})
    record = record.model_copy(update={"operations": [failed, skipped]})
    assert record.pending == [0]


# --- notices ------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "words"), [("en", "Office action"), ("ru", "Офисное")])
def test_notice_is_rendered_in_the_community_language_from_public_fields(
    language: str, words: str
) -> None:
    decision = approved(expires_at=datetime(2027, 1, 1, tzinfo=UTC), language=language).decision
    text = NoticeRenderer(LOG_PAGE).render(decision, "Global ban", CASE, f"User:{ACCOUNT}")
    assert words in text and CASE in text and notice_marker(CASE) in text
    assert f"[[{LOG_PAGE}]]" in text and "2027-01-01" in text
    assert "te@example.org" not in text and decision.public_rationale not in text


def test_an_unknown_language_falls_back_to_english() -> None:
    decision = approved(language="xx").decision
    text = NoticeRenderer(LOG_PAGE).render(decision, "Global <b>ban</b>", CASE, "Some page")
    assert "Office action" in text and "<nowiki>Global &lt;b&gt;ban&lt;/b&gt;</nowiki>" in text


@pytest.mark.parametrize(
    ("language", "line"),
    [
        ("en", f"This office action notice ({CASE}) was reversed on 2027-02-03."),
        (
            "ru",
            f"Офисное действие, о котором сообщает это уведомление ({CASE}), отменено 2027-02-03.",
        ),
        ("xx", f"This office action notice ({CASE}) was reversed on 2027-02-03."),
    ],
)
def test_the_reversal_line_is_in_the_notice_language(language: str, line: str) -> None:
    """Issue 18 §3: a reversed notice is marked in the language the notice was written in
    (a language without a notice of its own got the English one, and the English line)."""
    decision = approved(language=language).decision
    text = NoticeRenderer(LOG_PAGE).render(decision, "Global ban", CASE, f"User:{ACCOUNT}")
    assert reversal_line(text, CASE, datetime(2027, 2, 3, tzinfo=UTC).date()) == f"\n\n:''{line}''"


def test_a_notice_placed_before_notices_recorded_their_language_is_marked_in_english() -> None:
    old = f'{notice_marker(CASE)}\n{{| class="office-action-notice" style=""\n| Office action'
    assert "was reversed on 2027-02-03" in reversal_line(old, CASE, datetime(2027, 2, 3).date())


def test_a_notice_language_without_its_reversal_line_stops_enforcement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for template in notices.TEMPLATES.glob("*.*"):
        (tmp_path / template.name).write_text(template.read_text(encoding="utf-8"), "utf-8")
    (tmp_path / "notice.de.wiki.j2").write_text("{{ marker }} Büroaktion", "utf-8")
    log_ru = (tmp_path / "log.ru.yaml").read_text(encoding="utf-8")
    monkeypatch.setattr(notices, "TEMPLATES", tmp_path)
    notices.languages.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"reversed\.de\.wiki\.j2 missing"):
            NoticeRenderer(LOG_PAGE)
        (tmp_path / "reversed.de.wiki.j2").write_text(":''{{ case_id }} aufgehoben''", "utf-8")
        (tmp_path / "log.de.yaml").write_text(log_ru, "utf-8")  # its log reasons too
        notices.languages.cache_clear()
        assert NoticeRenderer(LOG_PAGE) and notices.languages() == {"de", "en", "ru"}
    finally:
        notices.languages.cache_clear()
        notices._log_wording.cache_clear()

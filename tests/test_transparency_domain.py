"""The portal's pure part: the fold of public events into records (idempotent, order-free,
newest revision wins), an action's state, the period reports (quarter boundaries in UTC,
medians, deadline shares, answered against refused with grounds counted), the CSV export
and the query checks. Also the event factories the other portal tests use."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from casework.contract import (
    AppealDecided,
    AppealFiled,
    DsaStatementSubmitted,
    EventData,
    InquiryAnswerPublished,
    InquiryReceived,
    ReversalPublished,
    StatementPublished,
)
from casework.contract.public import LogEntry, PublicAnswer, PublicInquiryAnswer, PublicStatement
from casework.errors import Rejected
from services.transparency.domain.csv_export import COLUMNS, report_csv
from services.transparency.domain.periods import Period
from services.transparency.domain.query import (
    Cursor,
    parse_actions,
    parse_period,
    parse_time_zone,
)
from services.transparency.domain.records import Record, collection_of, fold
from services.transparency.domain.reports import build_report, median_days
from services.transparency.domain.state import State, state_of, statement_in

T0 = datetime(2026, 11, 17, 9, 15, tzinfo=UTC)
CASE = "OA-AAAAAAAAAAAA"
REFUSED_WHERE = "Naming the places would identify a victim."
REFUSED_LEGAL = "Legal advice is privileged."


def answers(language: str = "en") -> list[PublicAnswer]:
    ru = language == "ru"
    return [
        PublicAnswer(
            question="clauses",
            heading="Какие пункты нарушены?" if ru else "Which clauses were breached?",
            disclosed=True,
            lines=["Условия использования §4" if ru else "Terms of Use §4: harassment."],
        ),
        PublicAnswer(
            question="where",
            heading="Где?" if ru else "Where did it happen?",
            disclosed=False,
            grounds="Назвать места — значит назвать жертву." if ru else REFUSED_WHERE,
        ),
        PublicAnswer(question="language-expertise", heading="Language", disclosed=True),
        PublicAnswer(question="public-actions", heading="Public actions", disclosed=True),
        PublicAnswer(
            question="legal-determination",
            heading="Legal",
            disclosed=False,
            grounds="Юридическое заключение конфиденциально." if ru else REFUSED_LEGAL,
        ),
    ]


def statement(
    case_id: str = CASE,
    *,
    revision: int = 1,
    action_type: str = "global-ban",
    wikis: Sequence[str] = (),
    language: str = "en",
    enforced_at: datetime = T0,
    requested_days: float | None = 6,
    deadline_days: float | None = 1,
    expires_at: datetime | None = None,
    title: str = "Global ban",
    account: str = "Vandal1",
) -> StatementPublished:
    """A statement enforced at ``enforced_at``, requested ``requested_days`` before and
    decided at enforcement, with its deadline ``deadline_days`` after the decision."""
    statements = [PublicStatement(language="en", action_title=title, answers=answers("en"))]
    if language == "ru":
        statements.append(
            PublicStatement(
                language="ru",
                action_title="Глобальная блокировка",
                public_rationale="Систематические преследования.",
                answers=answers("ru"),
            )
        )
    return StatementPublished(
        case_id=case_id,
        revision=revision,
        action_type=action_type,
        account=account,
        wikis=list(wikis),
        language=language,
        appealable=True,
        requested_at=enforced_at - timedelta(days=requested_days) if requested_days else None,
        deadline_at=enforced_at + timedelta(days=deadline_days)
        if deadline_days is not None
        else None,
        decided_at=enforced_at,
        enforced_at=enforced_at,
        expires_at=expires_at,
        statements=statements,
        log_entry=LogEntry(
            page="Office actions log", revision_id=4711, url="http://wiki.test/4711"
        ),
        published_at=enforced_at + timedelta(hours=1, minutes=revision),
    )


def dsa(case_id: str = CASE, revision: int = 1) -> DsaStatementSubmitted:
    return DsaStatementSubmitted(
        case_id=case_id,
        revision=revision,
        puid=f"puid-{case_id}-{revision}",
        dsa_id=f"dsa-{revision}",
        submitted_at=T0 + timedelta(hours=2, minutes=revision),
    )


def reversal(
    case_id: str = CASE, at: datetime = T0 + timedelta(days=20), appeal: str | None = None
) -> ReversalPublished:
    return ReversalPublished(
        case_id=case_id,
        reason="The appeal showed the evidence was misread.",
        grounds="appeal-upheld" if appeal else "error",
        appeal_case_id=appeal,
        reversed_at=at,
        published_at=at + timedelta(minutes=5),
    )


def appeal_filed(
    case_id: str, about: str = CASE, at: datetime = T0 + timedelta(days=3)
) -> AppealFiled:
    return AppealFiled(case_id=case_id, about_case_id=about, filed_at=at)


def appeal_decided(
    case_id: str, outcome: Any, about: str = CASE, at: datetime = T0 + timedelta(days=19)
) -> AppealDecided:
    return AppealDecided(case_id=case_id, about_case_id=about, outcome=outcome, decided_at=at)


def inquiry_received(
    case_id: str, about: str = CASE, at: datetime = T0 + timedelta(days=1)
) -> InquiryReceived:
    return InquiryReceived(
        case_id=case_id,
        about_case_id=about,
        asked_at=at,
        deadline_at=at + timedelta(days=14),
        question_count=2,
    )


def inquiry_answer(
    case_id: str,
    about: str = CASE,
    *,
    asked: datetime = T0 + timedelta(days=1),
    after_days: float = 5,
    held_back: str | None = None,
    asker: str | None = None,
) -> InquiryAnswerPublished:
    items = [
        PublicInquiryAnswer(question="Who decided?", outcome="answered", text="Two staff members."),
        PublicInquiryAnswer(question="Where?", outcome="refused", text=REFUSED_WHERE),
    ]
    return InquiryAnswerPublished(
        case_id=case_id,
        about_case_id=about,
        asker_name=asker,
        asked_at=asked,
        deadline_at=asked + timedelta(days=14),
        answered_at=asked + timedelta(days=after_days),
        answers=[] if held_back else items,
        held_back=held_back is not None,
        held_back_grounds=held_back,
    )


def history() -> list[EventData]:
    """Every public type: two revisions of a statement, its DSA statement, an appeal filed
    and upheld, the reversal, two inquiries (one held back), and a second action."""
    return [
        statement(revision=1, title="Global ban (first)"),
        statement(revision=2),
        dsa(revision=1),
        dsa(revision=2),
        appeal_filed("AP-AAAAAAAAAAAA"),
        appeal_decided("AP-AAAAAAAAAAAA", "upheld"),
        reversal(appeal="AP-AAAAAAAAAAAA"),
        inquiry_received("IQ-AAAAAAAAAAAA"),
        inquiry_answer("IQ-AAAAAAAAAAAA"),
        inquiry_received("IQ-BBBBBBBBBBBB"),
        inquiry_answer("IQ-BBBBBBBBBBBB", held_back="It names the person who reported."),
        statement("OA-BBBBBBBBBBBB", action_type="local-ban", wikis=["ruwiki"], language="ru"),
    ]


def folded(events: Sequence[EventData]) -> dict[tuple[str, str], Record]:
    records: dict[tuple[str, str], Record] = {}
    for event in events:
        key = (collection_of(event), event.event_subject())
        records[key] = fold(records.get(key), event)
    return records


def _split(records: dict[tuple[str, str], Record]) -> tuple[list[Any], list[Any], list[Any]]:
    kinds: dict[str, list[Any]] = {"actions": [], "appeals": [], "inquiries": []}
    for (kind, _), record in records.items():
        kinds[kind].append(record)
    return kinds["actions"], kinds["appeals"], kinds["inquiries"]


# --- the fold ------------------------------------------------------------------------------


def test_the_fold_gives_the_same_records_in_any_order_and_with_repeats() -> None:
    events = history()
    expected = folded(events)
    rng = random.Random(19)
    for _ in range(200):
        replayed = events + rng.sample(events, k=rng.randint(0, len(events)))
        rng.shuffle(replayed)
        assert folded(replayed) == expected
    action = expected[("actions", CASE)]
    assert action.statement is not None and action.statement.revision == 2  # type: ignore[attr-defined]
    assert action.dsa is not None and action.dsa.revision == 2  # type: ignore[attr-defined]
    assert action.reversal is not None  # type: ignore[attr-defined]


def test_the_newest_revision_wins_even_when_it_came_first() -> None:
    newer = statement(revision=2, title="Global ban (corrected)")
    older = statement(revision=1, title="Global ban (first)")
    record = folded([newer, older])[("actions", CASE)]
    assert statement_in(record.statement, "en").action_title == "Global ban (corrected)"  # type: ignore[attr-defined]


def test_a_reversal_before_its_statement_is_kept_and_the_statement_joins_it() -> None:
    record = folded([reversal(), statement()])[("actions", CASE)]
    assert record.reversal is not None and record.statement is not None  # type: ignore[attr-defined]


# --- state and language --------------------------------------------------------------------


def test_an_action_is_in_force_expired_or_reversed() -> None:
    until = T0 + timedelta(days=30)
    record = folded([statement(expires_at=until)])[("actions", CASE)]
    assert state_of(record, until) is State.IN_FORCE  # type: ignore[arg-type]
    assert state_of(record, until + timedelta(seconds=1)) is State.EXPIRED  # type: ignore[arg-type]
    reversed_ = folded([statement(expires_at=until), reversal()])[("actions", CASE)]
    assert state_of(reversed_, until + timedelta(days=1)) is State.REVERSED  # type: ignore[arg-type]
    forever = folded([statement()])[("actions", CASE)]
    assert state_of(forever, T0 + timedelta(days=9999)) is State.IN_FORCE  # type: ignore[arg-type]


def test_a_statement_reads_in_the_readers_language_when_notify_rendered_it() -> None:
    russian = statement(language="ru")
    assert statement_in(russian, "ru").action_title == "Глобальная блокировка"
    assert statement_in(russian, "en").action_title == "Global ban"
    assert statement_in(statement(), "ru").action_title == "Global ban"  # English otherwise


# --- periods and reports -------------------------------------------------------------------


def test_quarters_are_bounded_in_utc() -> None:
    q4 = Period(2026, 4)
    assert q4.contains(datetime(2026, 10, 1, tzinfo=UTC))
    assert not q4.contains(datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC))
    assert not q4.contains(datetime(2027, 1, 1, tzinfo=UTC))
    # 31 December 23:30 in New York is 1 January in UTC: the next year's first quarter.
    late = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert not q4.contains(late) and Period(2027, 1).contains(late)
    both = folded([statement("OA-CCCCCCCCCCCC", enforced_at=late), statement()])
    assert build_report(Period(2026, 4), *_split(both)).actions == 1
    assert build_report(Period(2027, 1), *_split(both)).actions == 1
    assert build_report(Period(2026), *_split(both)).actions == 1


def test_median_days_of_odd_and_even_counts() -> None:
    assert median_days([]) is None
    assert median_days([1.0, 9.0, 3.0]) == 3.0
    assert median_days([1.0, 2.0, 3.0, 10.0]) == 2.5


def test_a_quarters_report_counts_what_happened_in_it() -> None:
    events = [
        *history(),
        # Requested 2, 4 and 10 days before: median 6 with the history's two (6, 6).
        statement(
            "OA-CCCCCCCCCCCC",
            action_type="local-ban",
            wikis=["enwiki", "ruwiki"],
            requested_days=2,
            deadline_days=0,
        ),
        statement(
            "OA-DDDDDDDDDDDD",
            action_type="local-ban",
            wikis=["enwiki"],
            requested_days=10,
            deadline_days=-1,
        ),
        # Outside the quarter: not counted anywhere.
        statement("OA-EEEEEEEEEEEE", enforced_at=datetime(2026, 9, 30, 23, 59, tzinfo=UTC)),
        appeal_filed("AP-BBBBBBBBBBBB", about="OA-CCCCCCCCCCCC"),
        appeal_decided("AP-BBBBBBBBBBBB", "dismissed", about="OA-CCCCCCCCCCCC"),
        appeal_filed("AP-CCCCCCCCCCCC", about="OA-DDDDDDDDDDDD"),
    ]
    report = build_report(Period(2026, 4), *_split(folded(events)))
    assert report.actions == 4
    assert dict(report.by_type) == {"global-ban": 1, "local-ban": 3}
    assert dict(report.by_wiki) == {"*": 1, "ruwiki": 2, "enwiki": 2}
    assert report.median_days_to_decision == 6.0  # 2, 6, 6, 10
    # Deadline one day after, on the day (met: <=), one day before (missed).
    assert report.deadlines_by_type["global-ban"].as_json() == {"met": 1, "total": 1, "share": 1.0}
    assert report.deadlines_by_type["local-ban"].as_json() == {
        "met": 2,
        "total": 3,
        "share": 0.6667,
    }
    assert (report.appeals_filed, report.appeals_upheld, report.appeals_dismissed) == (3, 1, 1)
    assert report.reversals == 1 and dict(report.reversals_by_grounds) == {"appeal-upheld": 1}
    where = report.statement_questions["where"]
    assert (where.answered, where.refused) == (0, 4)
    assert where.grounds[REFUSED_WHERE] == 4  # an English report counts the English wording
    assert report.statement_questions["clauses"].as_json() == {
        "answered": 4,
        "refused": 0,
        "grounds": {},
    }
    assert (report.inquiries_received, report.inquiries_answered, report.inquiries_held_back) == (
        2,
        1,
        1,
    )
    assert dict(report.held_back_grounds) == {"It names the person who reported.": 1}
    assert report.inquiry_questions.as_json() == {
        "answered": 1,
        "refused": 1,
        "grounds": {REFUSED_WHERE: 1},
    }
    assert report.inquiry_deadlines.as_json() == {"met": 2, "total": 2, "share": 1.0}


def test_an_appeal_upheld_by_its_reversal_alone_is_counted_once() -> None:
    events = [statement(), appeal_filed("AP-AAAAAAAAAAAA"), reversal(appeal="AP-AAAAAAAAAAAA")]
    report = build_report(Period(2026), *_split(folded(events)))
    assert (report.appeals_filed, report.appeals_upheld, report.reversals) == (1, 1, 1)
    both = [*events, appeal_decided("AP-AAAAAAAAAAAA", "upheld")]
    assert build_report(Period(2026), *_split(folded(both))).appeals_upheld == 1


def test_a_late_inquiry_answer_misses_its_deadline() -> None:
    events = [inquiry_received("IQ-AAAAAAAAAAAA"), inquiry_answer("IQ-AAAAAAAAAAAA", after_days=15)]
    report = build_report(Period(2026, 4), *_split(folded(events)))
    assert report.inquiry_deadlines.as_json() == {"met": 0, "total": 1, "share": 0.0}


# --- CSV -----------------------------------------------------------------------------------


def test_the_csv_has_the_template_columns_and_the_numbers() -> None:
    hostile = statement("OA-FFFFFFFFFFFF", action_type="local-ban")
    events = [*history(), hostile]
    report = build_report(Period(2026, 4), *_split(folded(events)))
    report.held_back_grounds['=HYPERLINK("http://evil")'] += 1
    rows = list(csv.reader(io.StringIO(report_csv(report))))
    assert tuple(rows[0]) == COLUMNS
    table = {(r[1], r[2], r[3]): (r[4], r[5]) for r in rows[1:]}
    assert all(r[0] == "2026-Q4" for r in rows[1:])
    assert table[("own_initiative_moderation", "measures_taken", "total")] == ("3", "yes")
    assert table[("own_initiative_moderation", "measures_taken", "type=local-ban")] == ("2", "yes")
    assert table[("own_initiative_moderation", "measures_taken", "service=*")] == ("2", "yes")
    assert table[("internal_complaint_handling", "complaints_received", "total")] == ("1", "yes")
    assert table[("internal_complaint_handling", "decisions_reversed", "upheld")] == ("1", "yes")
    assert table[("statement_questions", "refused", "question=where")] == ("3", "portal")
    grounds = ("statement_questions", "refused_on_grounds", f"question=where|{REFUSED_WHERE}")
    assert table[grounds] == ("3", "portal")
    assert table[("decisions", "median_days", "request_to_decision")] == ("6.00", "portal")
    assert ("inquiries", "held_back_on_grounds", '\'=HYPERLINK("http://evil")') in table


# --- query checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        ({"type": "Global Ban!"}, "type", "action_type"),
        ({"wiki": "en.wiki"}, "wiki", "wiki"),
        ({"year": "1999"}, "year", "range"),
        ({"year": "20x6"}, "year", "year"),
        ({"language": "english!"}, "language", "language"),
        ({"after": "not-a-cursor"}, "after", "cursor"),
    ],
)
def test_a_bad_filter_names_its_field_and_rule(
    query: dict[str, str], field: str, rule: str
) -> None:
    with pytest.raises(Rejected) as caught:
        parse_actions(query)
    [error] = caught.value.errors
    assert (error.field, error.rule) == (field, rule)


def test_good_filters_cursors_periods_and_time_zones_parse() -> None:
    cursor = Cursor(T0.isoformat(), CASE)
    query = parse_actions(
        {"type": "global-ban", "wiki": "*", "year": "2026", "after": cursor.token()}
    )
    assert (query.type, query.wiki, query.year, query.after) == ("global-ban", "*", 2026, cursor)
    assert query.filters() == {"type": "global-ban", "wiki": "*", "year": "2026"}
    assert parse_period("2026", "Q4") == Period(2026, 4)
    assert parse_time_zone("Europe/Moscow") == "Europe/Moscow" and parse_time_zone(None) is None
    for bad in ("Mars/Olympus", "utc"):
        with pytest.raises(Rejected):
            parse_time_zone(bad)
    with pytest.raises(Rejected):
        parse_period("2026", "5")

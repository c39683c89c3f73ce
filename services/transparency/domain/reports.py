"""A period's report, computed from the portal's own records. Pure.

Which date puts a record in a period: an action by when it was enforced, an appeal by when
it was filed (its outcome by when it was decided), a reversal by when it was reversed, an
inquiry by when it was asked (its answer by when it was answered).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from casework.contract import Question
from services.transparency.domain.periods import Period
from services.transparency.domain.records import ActionRecord, AppealRecord, InquiryRecord
from services.transparency.domain.state import DEFAULT_LANGUAGE, statement_in

ALL_WIKIS = "*"  # an action whose scope is every wiki
NONE = "(none given)"
QUESTIONS = tuple(q.value for q in Question)


@dataclass
class Share:
    """How many of ``total`` met the rule; ``share`` is None when there were none."""

    met: int = 0
    total: int = 0

    @property
    def share(self) -> float | None:
        return round(self.met / self.total, 4) if self.total else None

    def count(self, met: bool) -> None:
        self.total += 1
        self.met += int(met)

    def as_json(self) -> dict[str, Any]:
        return {"met": self.met, "total": self.total, "share": self.share}


@dataclass
class Tally:
    """Answered (disclosed) against refused, with the refusals' grounds counted."""

    answered: int = 0
    refused: int = 0
    grounds: Counter[str] = field(default_factory=Counter)

    def count(self, answered: bool, grounds: str | None) -> None:
        if answered:
            self.answered += 1
        else:
            self.refused += 1
            self.grounds[(grounds or "").strip() or NONE] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "answered": self.answered,
            "refused": self.refused,
            "grounds": dict(sorted(self.grounds.items())),
        }


@dataclass
class Report:
    period: Period
    language: str = DEFAULT_LANGUAGE  # of the grounds counted (the statements' wording)
    actions: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_wiki: Counter[str] = field(default_factory=Counter)
    appeals_filed: int = 0
    appeals_upheld: int = 0
    appeals_dismissed: int = 0
    reversals: int = 0
    reversals_by_grounds: Counter[str] = field(default_factory=Counter)
    median_days_to_decision: float | None = None
    deadlines_by_type: dict[str, Share] = field(default_factory=dict)
    statement_questions: dict[str, Tally] = field(default_factory=dict)
    inquiries_received: int = 0
    inquiries_answered: int = 0
    inquiries_held_back: int = 0
    held_back_grounds: Counter[str] = field(default_factory=Counter)
    inquiry_questions: Tally = field(default_factory=Tally)
    inquiry_deadlines: Share = field(default_factory=Share)

    def as_json(self) -> dict[str, Any]:
        plain = {k: v for k, v in asdict(self).items() if not isinstance(v, dict | Counter)}
        return {
            **plain,
            "period": self.period.label,
            "year": self.period.year,
            "quarter": self.period.quarter,
            "by_type": dict(sorted(self.by_type.items())),
            "by_wiki": dict(sorted(self.by_wiki.items())),
            "reversals_by_grounds": dict(sorted(self.reversals_by_grounds.items())),
            "deadlines_by_type": {
                k: v.as_json() for k, v in sorted(self.deadlines_by_type.items())
            },
            "statement_questions": {k: v.as_json() for k, v in self.statement_questions.items()},
            "held_back_grounds": dict(sorted(self.held_back_grounds.items())),
            "inquiry_questions": self.inquiry_questions.as_json(),
            "inquiry_deadlines": self.inquiry_deadlines.as_json(),
        }


def days_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86_400


def median_days(spans: Iterable[float]) -> float | None:
    found = list(spans)
    return round(statistics.median(found), 2) if found else None


def _count_actions(report: Report, actions: Iterable[ActionRecord]) -> None:
    spans = []
    for record in actions:
        statement = record.statement
        if statement is None or not report.period.contains(statement.enforced_at):
            continue
        report.actions += 1
        report.by_type[statement.action_type] += 1
        for wiki in statement.wikis or [ALL_WIKIS]:
            report.by_wiki[wiki] += 1
        if statement.requested_at is not None and statement.decided_at is not None:
            spans.append(days_between(statement.requested_at, statement.decided_at))
        if statement.deadline_at is not None and statement.decided_at is not None:
            share = report.deadlines_by_type.setdefault(statement.action_type, Share())
            share.count(statement.decided_at <= statement.deadline_at)
        # The five questions, worded in the report's language when the statement has it
        # (every language answers the same way: only the wording differs).
        for answer in statement_in(statement, report.language).answers:
            tally = report.statement_questions.setdefault(answer.question, Tally())
            tally.count(answer.disclosed, answer.grounds)
    report.median_days_to_decision = median_days(spans)


def _count_reversals_and_appeals(
    report: Report, actions: Iterable[ActionRecord], appeals: Iterable[AppealRecord]
) -> None:
    upheld: set[str] = set()
    dismissed: set[str] = set()
    for appeal in appeals:
        if appeal.filed is not None and report.period.contains(appeal.filed.filed_at):
            report.appeals_filed += 1
        decided = appeal.decided
        if decided is not None and report.period.contains(decided.decided_at):
            (upheld if decided.outcome == "upheld" else dismissed).add(appeal.case_id)
    for record in actions:
        reversal = record.reversal
        if reversal is None or not report.period.contains(reversal.reversed_at):
            continue
        report.reversals += 1
        report.reversals_by_grounds[reversal.grounds or NONE] += 1
        # An upheld appeal shows as a reversal on appeal even before its own outcome.
        if reversal.grounds == "appeal-upheld" and reversal.appeal_case_id:
            upheld.add(reversal.appeal_case_id)
    report.appeals_upheld = len(upheld)
    report.appeals_dismissed = len(dismissed - upheld)


def _count_inquiries(report: Report, inquiries: Iterable[InquiryRecord]) -> None:
    for inquiry in inquiries:
        if report.period.contains(inquiry.asked_at):
            report.inquiries_received += 1
        answer = inquiry.answer
        if answer is None or not report.period.contains(answer.answered_at):
            continue
        if answer.held_back:
            report.inquiries_held_back += 1
            report.held_back_grounds[(answer.held_back_grounds or "").strip() or NONE] += 1
        else:
            report.inquiries_answered += 1
        for item in answer.answers:
            report.inquiry_questions.count(item.outcome == "answered", item.text)
        if inquiry.deadline_at is not None:
            report.inquiry_deadlines.count(answer.answered_at <= inquiry.deadline_at)


def build_report(
    period: Period,
    actions: Iterable[ActionRecord],
    appeals: Iterable[AppealRecord],
    inquiries: Iterable[InquiryRecord],
    language: str = DEFAULT_LANGUAGE,
) -> Report:
    """The period's numbers from every record (records outside it are passed over); the
    statements' refusal grounds are counted as worded in ``language``."""
    kept = list(actions)
    report = Report(period, language)
    report.statement_questions = {q: Tally() for q in QUESTIONS}
    _count_actions(report, kept)
    _count_reversals_and_appeals(report, kept, appeals)
    _count_inquiries(report, inquiries)
    return report

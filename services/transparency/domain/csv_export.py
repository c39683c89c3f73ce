"""A report as CSV, shaped after the EU's harmonised transparency-report templates. Pure.

The templates (Commission Implementing Regulation (EU) 2024/2835, Annex I: the quantitative
template providers fill in under DSA Articles 15, 24 and 42) are one row per figure, each
under a section and broken down by a dimension. This export keeps that shape: a row is
(period, section, metric, dimension, value, template), where ``template`` says whether the
figure is one of the template's (``yes``) or the portal's own (``portal``).

What maps:

- Own-initiative content moderation → office actions: the number of measures taken, by
  type of restriction (here the policy's action type, not re-coded into the template's
  categories: the policy's types are what the statements name) and by the service they
  apply to (here the wiki; ``*`` is every wiki).
- Complaints through the internal complaint-handling system (Art. 20) → appeals: the number
  received, the decisions that reversed the measure (upheld) and those that did not
  (dismissed). The template's median time to decide a complaint is not known to the
  portal (no event carries an appeal's request date), so it is left out.
- Decisions reversed → reversals, by the grounds the reversal records.

What does not apply, and is left out rather than filled with zeros that would claim a count:
orders from Member State authorities (Art. 9 and 10), notices under Art. 16 and trusted
flaggers, out-of-court dispute settlement (Art. 21), suspensions for misuse (Art. 23), the use
of automated means (no office action is automated), human resources, and the template's
categories of illegal content (statements name the policy's clauses instead).

The portal's own rows (``template=portal``): the median days from the request to the
decision of an action, the share of deadlines met per action type, the
five questions of the statements disclosed or not (with the grounds counted), and the
inquiries: received, answered, held back (with the grounds), per answer answered or refused
(with the grounds counted), and the inquiry deadline met.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from services.transparency.domain.reports import Report, Share, Tally

COLUMNS = ("period", "section", "metric", "dimension", "value", "template")
OWN_INITIATIVE = "own_initiative_moderation"
COMPLAINTS = "internal_complaint_handling"
PORTAL = "portal"

Row = tuple[str, str, str, str, str]


def _share(section: str, metric: str, dimension: str, share: Share) -> Iterator[Row]:
    yield section, f"{metric}_met", dimension, str(share.met), PORTAL
    yield section, f"{metric}_total", dimension, str(share.total), PORTAL
    value = "" if share.share is None else f"{share.share:.4f}"
    yield section, f"{metric}_share", dimension, value, PORTAL


def _tally(section: str, dimension: str, tally: Tally) -> Iterator[Row]:
    yield section, "answered", dimension, str(tally.answered), PORTAL
    yield section, "refused", dimension, str(tally.refused), PORTAL
    for grounds, count in sorted(tally.grounds.items()):
        yield section, "refused_on_grounds", f"{dimension}|{grounds}", str(count), PORTAL


def _template_rows(report: Report) -> Iterator[Row]:
    yield OWN_INITIATIVE, "measures_taken", "total", str(report.actions), "yes"
    for action_type, count in sorted(report.by_type.items()):
        yield OWN_INITIATIVE, "measures_taken", f"type={action_type}", str(count), "yes"
    for wiki, count in sorted(report.by_wiki.items()):
        yield OWN_INITIATIVE, "measures_taken", f"service={wiki}", str(count), "yes"
    yield COMPLAINTS, "complaints_received", "total", str(report.appeals_filed), "yes"
    yield COMPLAINTS, "decisions_reversed", "upheld", str(report.appeals_upheld), "yes"
    yield COMPLAINTS, "decisions_upheld_measure", "dismissed", str(report.appeals_dismissed), "yes"
    yield OWN_INITIATIVE, "measures_reversed", "total", str(report.reversals), "yes"
    for grounds, count in sorted(report.reversals_by_grounds.items()):
        yield OWN_INITIATIVE, "measures_reversed", f"grounds={grounds}", str(count), "yes"


def _portal_rows(report: Report) -> Iterator[Row]:
    median = report.median_days_to_decision
    days = "" if median is None else f"{median:.2f}"
    yield "decisions", "median_days", "request_to_decision", days, PORTAL
    for action_type, share in sorted(report.deadlines_by_type.items()):
        yield from _share("deadlines", "deadline", f"type={action_type}", share)
    for question, tally in report.statement_questions.items():
        yield from _tally("statement_questions", f"question={question}", tally)
    yield "inquiries", "received", "total", str(report.inquiries_received), PORTAL
    yield "inquiries", "answered", "total", str(report.inquiries_answered), PORTAL
    yield "inquiries", "held_back", "total", str(report.inquiries_held_back), PORTAL
    for grounds, count in sorted(report.held_back_grounds.items()):
        yield "inquiries", "held_back_on_grounds", grounds, str(count), PORTAL
    yield from _tally("inquiry_questions", "all", report.inquiry_questions)
    yield from _share("inquiries", "deadline", "all", report.inquiry_deadlines)


def cell(value: str) -> str:
    """A cell a spreadsheet shows as text: never run as a formula (free-text grounds)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def report_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in (*_template_rows(report), *_portal_rows(report)):
        writer.writerow((report.period.label, *(cell(v) for v in row)))
    return out.getvalue()

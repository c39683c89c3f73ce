"""What staff who may not see confidential cases get instead of their details. Pure.

A confidential case (its action type is in the policy's
``access.confidential_action_types``, e.g. child protection) keeps its id, state and
timings on the dashboard, but its failure texts (which name pages), tampering details
(who did what to which page) and alert texts are replaced. A case the monitor has not
seen opened or decided yet counts as confidential: its type is not known.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from services.monitor.domain.views import Views

WITHHELD = "(confidential case: details withheld)"
# Per list in the summary, the fields that may carry a case's details.
DETAIL_FIELDS = {
    "failed": ("what",),
    "tampering": ("what", "performer"),
    "alerts": ("what_happened", "what_to_do"),
}


def is_confidential(views: Views, case_id: str | None, types: Collection[str]) -> bool:
    if case_id is None:
        return False
    case = views.cases.get(case_id)
    return case is None or case.action_type in types


def redact(summary: dict[str, Any], views: Views, types: Collection[str]) -> dict[str, Any]:
    """A copy of ``summary`` without confidential cases' details."""
    out = dict(summary)
    for section, fields in DETAIL_FIELDS.items():
        out[section] = [
            {**row, **dict.fromkeys(fields, WITHHELD)}
            if is_confidential(views, row.get("case_id"), types)
            else row
            for row in summary[section]
        ]
    return out

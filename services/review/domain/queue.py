"""The queue: filters, urgency order and keyset cursors over the store's indexes. Pure."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from casework.contract import AwareDatetime, Language, SubmissionKind
from casework.errors import Kind, Rejected
from casework.policy import Policy
from services.review.domain.case import Case, CaseState, sort_key

QUEUE_LIMIT_MAX = 500
# Store fields each filter matches; every one is indexed (see app.py).
FILTER_FIELDS = ("state", "action_type", "assignee", "language")
ORDER = {"urgency": ("urgency", False), "opened": ("opened_at", True)}


class QueueQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: CaseState | None = None
    action_type: str | None = None
    assignee: str | None = None
    language: Language | None = None
    deadline_before: AwareDatetime | None = None
    submission_id: Annotated[str, Field(pattern=r"^R-[A-Z0-9]{4,40}$")] | None = Field(
        default=None, description="The requester's reference (R-…): the case opened from it."
    )
    sort: Literal["urgency", "opened"] = "urgency"
    limit: Annotated[int, Field(ge=1, le=QUEUE_LIMIT_MAX)] = 100
    cursor: str | None = None

    def where(self, policy: Policy) -> dict[str, Any]:
        if self.action_type is not None and self.action_type not in policy.action_types:
            raise Rejected.one(
                Kind.INVALID,
                "validation_failed",
                "action_type",
                "one_of",
                f"one of: {', '.join(sorted(policy.action_types))}",
            )
        where: dict[str, Any] = {}
        for name in (*FILTER_FIELDS, "submission_id"):
            value = getattr(self, name)
            if value is not None:
                where[name] = str(value)
        return where

    def after(self) -> tuple[str, str] | None:
        """The (sort key, case id) a cursor from `cursor_for` holds; anything else is
        refused naming the field, whatever it decodes to."""
        if self.cursor is None:
            return None
        parsed = parse_cursor(self.cursor)
        if parsed is None:
            raise Rejected.one(
                Kind.INVALID,
                "validation_failed",
                "cursor",
                "valid_cursor",
                "not a cursor from a previous page (pass next_cursor as it was given)",
            )
        return parsed

    def cutoff(self) -> str | None:
        return sort_key(self.deadline_before) if self.deadline_before else None


CURSOR_MAX = 400  # characters; a real cursor is about 100
_CURSOR_PART = re.compile(r"^[\x21-\x7e]{1,120}$")  # printable ASCII, as keys and ids are
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")


def parse_cursor(cursor: str) -> tuple[str, str] | None:
    """A cursor's (sort key, case id), or None when it is not one `cursor_for` made."""
    if len(cursor) > CURSOR_MAX or not _BASE64URL.match(cursor):
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        return None
    if not (isinstance(value, list) and len(value) == 2):
        return None
    key, last_id = value
    if not (isinstance(key, str) and isinstance(last_id, str)):
        return None
    if not (_CURSOR_PART.match(key) and _CURSOR_PART.match(last_id)):
        return None
    return key, last_id


def cursor_for(doc: dict[str, Any], order_field: str) -> str:
    raw = json.dumps([doc[order_field], doc["_id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


class CaseSummary(BaseModel):
    """A queue row: staff level, no requester and no case contents."""

    id: str
    state: CaseState
    kind: SubmissionKind
    action_type: str | None
    routed_to: str
    subject: str | None
    language: str
    urgent: bool
    assignee: str | None
    opened_at: datetime
    deadline_at: datetime | None
    at_risk_at: datetime | None = None
    waiting_for_requester: bool
    next_level: str | None

    @classmethod
    def of(cls, case: Case) -> CaseSummary:
        return cls(
            id=case.id,
            state=case.state,
            kind=case.kind,
            action_type=case.action_type,
            routed_to=case.routed_to,
            subject=case.subject_account,
            language=case.language,
            urgent=case.urgent,
            assignee=case.assignee,
            opened_at=case.opened_at,
            deadline_at=case.deadline_at,
            at_risk_at=case.deadline.at_risk_at if case.deadline else None,
            waiting_for_requester=case.waiting_for_requester,
            next_level=case.next_level() if case.decision else None,
        )


class QueuePage(BaseModel):
    cases: list[CaseSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")

"""The monitor's models of what it has read: a case's view, its state and deadline status,
failures, dead letters, raised alerts and tampering. Pure: no I/O, time passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from casework.contract import Audience, Decision
from casework.policy.notify import NotifyRules

UNKNOWN_ACTION = "unknown"
HISTORY_HOURS = 24
LIST_LIMIT = 50


class CaseState(StrEnum):
    UNDER_REVIEW = "under-review"
    APPROVED = "approved"  # awaiting enforcement
    ENFORCED = "enforced"
    DECLINED = "declined"
    REVERSED = "reversed"
    EXPIRED = "expired"


OPEN_STATES = frozenset({CaseState.UNDER_REVIEW, CaseState.APPROVED})
# Topics are read in no particular order relative to each other (after a restart the
# whole history comes at once), so a case only ever moves to a later state.
STATE_RANK = {
    CaseState.UNDER_REVIEW: 0,
    CaseState.APPROVED: 1,
    CaseState.DECLINED: 1,
    CaseState.ENFORCED: 2,
    CaseState.REVERSED: 3,
    CaseState.EXPIRED: 3,
}


class DeadlineStatus(StrEnum):
    AT_RISK = "at-risk"
    BREACHED = "breached"


class Stall(StrEnum):
    """A case waiting too long between two services (limits: the policy's `monitor:`)."""

    NOT_ENFORCED = "not-enforced"  # approved, enforcement has not reported it done
    NOT_TOLD = "not-told"  # enforced, neither the affected user nor the public told


# Whom notify tells of an enforcement: telling either (or failing for good) settles it.
TOLD_OF_ENFORCEMENT = frozenset({Audience.AFFECTED_USER, Audience.PUBLIC})


@dataclass
class CaseView:
    case_id: str
    action_type: str = UNKNOWN_ACTION
    state: CaseState = CaseState.UNDER_REVIEW
    submission_id: str | None = None
    deadline_at: datetime | None = None
    approved_at: datetime | None = None
    decided_at: datetime | None = None
    enforced_at: datetime | None = None
    action_from_decision: bool = False
    reported: DeadlineStatus | None = None  # what review's own deadline events said
    # From the decision: does notify tell the affected user (an address) or the public?
    subject_email: bool = False
    public_statement: bool = True

    def move_to(self, state: CaseState) -> None:
        if STATE_RANK[state] > STATE_RANK[self.state]:
            self.state = state

    def decided_by(self, action_type: str) -> None:
        self.action_type = action_type
        self.action_from_decision = True

    def note_decision(self, decision: Decision) -> None:
        self.decided_by(decision.action_type)
        self.subject_email = decision.subject.email is not None
        self.public_statement = decision.disclosure.public_statement

    def told_expected(self, notify: NotifyRules) -> bool:
        """Notify tells someone of the enforcement: the affected user or the public."""
        withheld = notify.statement_withheld(self.action_type, self.public_statement)
        return self.subject_email or not withheld

    def deadline_status(self, now: datetime, at_risk_window: timedelta) -> DeadlineStatus | None:
        """Late while a decision is still awaited: by review's word or by the monitor's clock."""
        if self.state is not CaseState.UNDER_REVIEW:
            return None
        status = self.reported
        if self.deadline_at is not None:
            if now >= self.deadline_at:
                return DeadlineStatus.BREACHED
            if self.deadline_at - now <= at_risk_window:
                status = status or DeadlineStatus.AT_RISK
        return status


@dataclass(frozen=True)
class Failure:
    case_id: str
    source: str  # "enforcement" or "notify"
    where: str  # the wiki, or audience/channel
    what: str
    permanent: bool
    at: datetime


@dataclass(frozen=True)
class ParkedLetter:
    dead_letter_topic: str
    partition: int
    offset: int
    source_topic: str
    event_id: str | None
    event_type: str | None
    case_id: str | None
    error: str
    at: datetime
    error_type: str = ""

    @property
    def place(self) -> tuple[str, int, int]:
        return (self.dead_letter_topic, self.partition, self.offset)


@dataclass(frozen=True)
class RaisedAlert:
    key: str
    kind: str
    case_id: str | None
    what_happened: str
    what_to_do: str
    at: datetime


@dataclass(frozen=True)
class Tampering:
    tampering_id: str
    case_id: str
    wiki: str
    what: str
    performer: str
    at: datetime


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)

"""Where a requester's submission stands: review's CaseProgressed events folded, and the life
cycle the requester is shown. Pure.

Events come at least once and not always in order (a consumer reads a partition again after
a rebalance, a replay sends old ones), so the fold does not depend on arrival: the newest
event by its own time wins, the same event twice changes nothing, and the history is the
set of steps seen, sorted by time, of which the newest are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from casework.contract import CaseProgressed

HISTORY_KEPT = 30
RECEIVED = "received"
# Two events stamped at the same instant: the one further along the life cycle wins.
RANK = {
    "under-review": 0,
    "waiting-for-you": 1,
    "answered": 2,
    "approved": 2,
    "closed": 2,
    "declined": 2,
    "merged": 2,
    "enforced": 3,
    "expired": 4,
    "reversed": 4,
}
APPEAL_STAGES = ("approved", "enforced")


@dataclass(frozen=True, order=True)
class Step:
    at: datetime
    stage: str

    def key(self) -> tuple[datetime, int, str]:
        return (self.at, RANK.get(self.stage, 0), self.stage)


@dataclass(frozen=True)
class Progress:
    """The newest stage review reported for a submission's case, and the steps seen."""

    case_id: str
    stage: str
    at: datetime
    appeal_until: datetime | None
    history: tuple[Step, ...]

    def key(self) -> tuple[datetime, int, str, str]:
        until = self.appeal_until.isoformat() if self.appeal_until else ""
        return (*Step(self.at, self.stage).key(), until)


def fold(current: Progress | None, event: CaseProgressed) -> Progress:
    """``current`` with ``event`` taken in: order-free and idempotent."""
    step = Step(event.at, event.stage)
    arrived = Progress(event.case_id, event.stage, event.at, event.appeal_until, (step,))
    if current is None:
        return arrived
    steps = sorted({*current.history, step}, key=Step.key)[-HISTORY_KEPT:]
    newest = arrived if arrived.key() > current.key() else current
    return Progress(newest.case_id, newest.stage, newest.at, newest.appeal_until, tuple(steps))


@dataclass(frozen=True)
class LifeCycle:
    """What the requester may see: stages and dates, never a reason, a person or content."""

    reference: str
    kind: str
    status: str
    received_at: datetime
    history: tuple[Step, ...]
    appeal_open_until: datetime | None


def life_cycle(
    reference: str, kind: str, received_at: datetime, progress: Progress | None, now: datetime
) -> LifeCycle:
    """``received`` until review reports, then its newest stage; a stage repeated (the
    appeal window moved) is shown once, from when it began. The appeal window is shown only
    while it is open and the action stands."""
    steps = [Step(received_at, RECEIVED)]
    for step in progress.history if progress else ():
        if step.stage != steps[-1].stage:
            steps.append(step)
    if progress is None:
        return LifeCycle(reference, kind, RECEIVED, received_at, tuple(steps), None)
    until = progress.appeal_until
    open_ = until is not None and progress.stage in APPEAL_STAGES and until > now
    return LifeCycle(
        reference, kind, progress.stage, received_at, tuple(steps), until if open_ else None
    )

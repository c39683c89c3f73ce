"""Events of the reconciliation duty (casework.reconcile): a gap it could not finish.

Each consuming service publishes its own, on its own topic: review (from intake's
ledger), enforcement (from review's), notify (from enforcement's and review's), intake
(from review's: where a requester's case stands). The
monitor alerts on each, naming the case.
"""

from __future__ import annotations

from pydantic import Field

from casework.contract.common import NAMESPACE, AwareDatetime, EventData


class CaseUnreconciled(EventData):
    """Base: what the upstream says exists, and why this service could not finish it."""

    case_id: str = Field(description="The case (or submission) the upstream event is about.")
    upstream: str = Field(description="The service whose ledger listed it.")
    upstream_event_id: str | None = None
    upstream_event_type: str | None = None
    reason: str = Field(max_length=500, description="Why it could not be finished; no case data.")
    found_at: AwareDatetime

    def event_subject(self) -> str:
        return self.case_id


class ReviewCaseUnreconciled(CaseUnreconciled):
    """Intake stored a submission that review could not open as a case."""

    TYPE = f"{NAMESPACE}.review.case-unreconciled.v1"
    PRODUCER = "review"


class EnforcementCaseUnreconciled(CaseUnreconciled):
    """Review approved a decision that enforcement could not take up."""

    TYPE = f"{NAMESPACE}.enforcement.case-unreconciled.v1"
    PRODUCER = "enforcement"


class NotifyCaseUnreconciled(CaseUnreconciled):
    """Enforcement enforced an action whose notifications notify could not send."""

    TYPE = f"{NAMESPACE}.notify.case-unreconciled.v1"
    PRODUCER = "notify"


class IntakeCaseUnreconciled(CaseUnreconciled):
    """Review reported where a case stands, and intake could not put it on the
    requester's tracking page (typically: no such submission in this intake's store)."""

    TYPE = f"{NAMESPACE}.intake.case-unreconciled.v1"
    PRODUCER = "intake"


UNRECONCILED: dict[str, type[CaseUnreconciled]] = {
    model.PRODUCER: model
    for model in (
        ReviewCaseUnreconciled,
        EnforcementCaseUnreconciled,
        NotifyCaseUnreconciled,
        IntakeCaseUnreconciled,
    )
}
EVENTS: tuple[type[EventData], ...] = tuple(UNRECONCILED.values())

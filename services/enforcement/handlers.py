"""Which of review's events enforcement reacts to, and the use case each one calls."""

from __future__ import annotations

from casework.contract import (
    DecisionApproved,
    DecisionReversed,
    RestorationOrdered,
    RetryOrdered,
)
from casework.dispatch import Handlers
from services.enforcement.usecases import Enforcer

HANDLERS: Handlers[Enforcer] = {
    DecisionApproved: lambda enforcer, data, event: enforcer.decision_approved(data),
    DecisionReversed: lambda enforcer, data, event: enforcer.decision_reversed(data),
    RestorationOrdered: lambda enforcer, data, event: enforcer.restoration_ordered(data),
    RetryOrdered: lambda enforcer, data, event: enforcer.retry_ordered(data),
}

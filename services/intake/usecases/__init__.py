"""What intake does: the use cases every channel (API, web form, mail) calls, one module
each (submit, incomplete, correspondence, progress) over the parts they share (base), and the
mail channel's pipeline (mail)."""

from __future__ import annotations

from services.intake.adapters.rate_limits import RateLimited
from services.intake.adapters.references import IDEMPOTENCY
from services.intake.usecases.base import (
    CORRESPONDENCE,
    INCOMPLETE,
    SUBMISSIONS,
    Accepted,
    IncomingAttachment,
    Recorded,
)
from services.intake.usecases.correspondence import Correspondence
from services.intake.usecases.incomplete import ReportIncomplete
from services.intake.usecases.progress import Tracking
from services.intake.usecases.submit import Submit

__all__ = [
    "CORRESPONDENCE",
    "IDEMPOTENCY",
    "INCOMPLETE",
    "SUBMISSIONS",
    "Accepted",
    "IncomingAttachment",
    "RateLimited",
    "Recorded",
    "Submissions",
]


class Submissions(Submit, ReportIncomplete, Correspondence, Tracking):
    """The use cases every channel calls, and the tracking of each submission's case. Each
    accepted submission is one store insert that carries its event (the outbox), so it is
    announced exactly when it is stored."""

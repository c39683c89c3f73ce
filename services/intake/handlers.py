"""Which events intake reacts to: review's reports of where a requester's case stands, kept
for the requester's tracking page."""

from __future__ import annotations

from casework.contract import CaseProgressed
from casework.dispatch import Handlers
from services.intake.usecases import Submissions

HANDLERS: Handlers[Submissions] = {
    CaseProgressed: lambda intake, data, event: intake.case_progressed(data),
}

"""Events the ops monitor publishes."""

from __future__ import annotations

from casework.contract.common import EventData

# The monitor adds its alert events here (issue 7).
EVENTS: tuple[type[EventData], ...] = ()

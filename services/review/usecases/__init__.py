"""Review's use cases: what staff and events do to cases. The JSON API and the console
both call these; each authorises, applies a pure domain change, and stores the case
with the events it caused (outbox) in one write."""

from __future__ import annotations

from services.review.usecases.base import CASES, INDEXES, not_found
from services.review.usecases.deciding import Deciding
from services.review.usecases.events import EventReactions
from services.review.usecases.reads import Reads
from services.review.usecases.working import Working

__all__ = ["CASES", "INDEXES", "ReviewCases", "not_found"]


class ReviewCases(Reads, Working, Deciding, EventReactions):
    """Every review use case, over one store, relay, policy, staff lookup and signer."""

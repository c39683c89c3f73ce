"""Tracking a submission: review's reports of the case opened from it recorded, and the life
cycle its requester may see by the reference."""

from __future__ import annotations

import logging
from datetime import datetime

from casework.contract import CaseProgressed
from services.intake.domain.progress import LifeCycle, fold, life_cycle
from services.intake.usecases.base import SUBMISSIONS, UseCaseBase

log = logging.getLogger(__name__)


class Tracking(UseCaseBase):
    async def case_progressed(self, event: CaseProgressed) -> None:
        """Record where the case stands; an older or repeated report changes nothing."""
        if await self.store.get(SUBMISSIONS, event.submission_id) is None:
            # Review opens cases from intake's submissions only; another store's (a
            # misconfigured deployment) would only fill this collection.
            log.warning("progress of %s: no such submission here", event.submission_id)
            return
        await self.progress.change(event.submission_id, lambda current: fold(current, event))

    async def recorded(self, event: CaseProgressed) -> bool:
        """Whether ``event`` is taken in already (reconciliation from review's ledger):
        the recorded progress folded with it again would not change."""
        current = await self.progress.get(event.submission_id)
        return current is not None and fold(current, event) == current

    async def status(self, reference: str) -> LifeCycle | None:
        """What the submitter may see of their submission: its kind, when it was received,
        and the stages of its case since (no reason, person or content)."""
        document = await self.store.get(SUBMISSIONS, reference)
        if document is None:
            return None
        return life_cycle(
            reference,
            document["kind"],
            datetime.fromisoformat(document["submission"]["received_at"]),
            await self.progress.get(reference),
            self.clock(),
        )

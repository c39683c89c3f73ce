"""The ``progress`` collection: one document per submission (its reference is the id), what
review last reported of the case opened from it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from casework.store import Document, DocumentStore, DuplicateDocument, user_fields
from casework.updates import update_document
from services.intake.domain.progress import Progress, Step

PROGRESS = "progress"


def to_document(reference: str, progress: Progress) -> Document:
    return {
        "_id": reference,
        "case_id": progress.case_id,
        "stage": progress.stage,
        "at": progress.at.isoformat(),
        "appeal_until": progress.appeal_until.isoformat() if progress.appeal_until else None,
        "history": [{"stage": s.stage, "at": s.at.isoformat()} for s in progress.history],
    }


def from_document(document: Document) -> Progress:
    until = document.get("appeal_until")
    return Progress(
        case_id=document["case_id"],
        stage=document["stage"],
        at=datetime.fromisoformat(document["at"]),
        appeal_until=datetime.fromisoformat(until) if until else None,
        history=tuple(
            Step(datetime.fromisoformat(s["at"]), s["stage"]) for s in document["history"]
        ),
    )


class ProgressBook:
    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def get(self, reference: str) -> Progress | None:
        document = await self.store.get(PROGRESS, reference)
        return from_document(document) if document is not None else None

    async def change(
        self, reference: str, change: Callable[[Progress | None], Progress]
    ) -> Progress:
        """``change`` applied to the stored progress (None: nothing yet) under optimistic
        concurrency: another instance's write in between is read and ``change`` applied
        again, so it must be pure. Nothing is written when it changes nothing."""
        if await self.store.get(PROGRESS, reference) is None:
            first = change(None)
            try:
                await self.store.insert(PROGRESS, to_document(reference, first))
                return first
            except DuplicateDocument:
                pass  # another instance recorded the first one: change what it wrote

        def apply(document: Document) -> tuple[Document, list[Any]]:
            updated = to_document(reference, change(from_document(document)))
            return {**document, **user_fields(updated)}, []

        return from_document(await update_document(self.store, PROGRESS, reference, apply))

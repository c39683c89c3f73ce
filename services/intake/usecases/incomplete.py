"""Recording a mail that lacked what its kind needs, and asking notify to say what is
missing: at most once per message and sender, and once per address in a rolling window."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import ValidationError

from casework.contract import Channel, SubmissionIncomplete, SubmissionKind, to_cloudevent
from casework.contract.intake import MissingElement
from casework.errors import FieldError, Kind, Rejected
from casework.http import field_errors
from casework.store import Document, DuplicateDocument, OutboxMessage
from services.intake.domain.submission import new_submission_id
from services.intake.usecases.base import (
    INCOMPLETE,
    TOPIC,
    Recorded,
    UseCaseBase,
    _claim_id,
    _key_reused,
)


class ReportIncomplete(UseCaseBase):
    async def report_incomplete(
        self,
        kind: SubmissionKind,
        missing: Sequence[FieldError],
        *,
        channel: Channel,
        requester_email: str,
        requester_name: str = "",
        language: str = "en",
        message_id: str | None = None,
        client: str | None = None,
        answer: bool = True,
    ) -> Recorded:
        """Record that a submission lacked ``missing`` and, when it may, ask notify to say so;
        once per message and sender. Returns the reference the requester quotes when replying.

        Answered at most once per address in the policy's rolling window (later ones are
        recorded unanswered), never when ``answer`` is False (automated or list mail), and
        within the connecting client's limit (else RateLimited: deliver again later)."""
        claim_id = (
            _claim_id("incomplete", requester_email.casefold(), message_id) if message_id else None
        )
        reference = None
        if claim_id is not None:
            reference, earlier = await self._earlier(claim_id, kind)
            if earlier is not None:
                return earlier
        now = self.clock()
        try:  # checked before anything is counted or claimed; the reference comes after
            event = SubmissionIncomplete(
                reference="",
                kind=kind,
                channel=channel,
                missing=[
                    MissingElement(field=m.field, rule=m.rule, message=m.message) for m in missing
                ],
                requester_email=requester_email,
                requester_name=requester_name,
                language=language,
                in_reply_to=message_id,
                received_at=now,
            )
        except ValidationError as exc:
            raise Rejected(Kind.INVALID, "validation_failed", field_errors(exc)) from exc
        if answer:
            await self.limiter.consume_answer(client=client, now=now)
        if reference is None:
            reference = new_submission_id()
        event = event.model_copy(update={"reference": reference})
        answered = answer and await self.answers.claim(requester_email, now)
        document = {
            "_id": reference,
            "message_id": message_id,
            "received_at": now.isoformat(),
            "answered": answered,
            "incomplete": event.model_dump(mode="json"),
        }
        outbox = [OutboxMessage(TOPIC, to_cloudevent(event))] if answered else []
        return await self._record(document, outbox, answered)

    async def _earlier(self, claim_id: str, kind: SubmissionKind) -> tuple[str, Recorded | None]:
        """The reference this message and sender get, and its earlier record if there is one."""
        reference = await self.keys.keyed_reference(claim_id)
        stored, claimed = await asyncio.gather(
            self.store.get(INCOMPLETE, reference), self._claimed(claim_id, kind.value)
        )
        if claimed is not None:  # claimed before references came from keys
            reference = claimed
            stored = await self.store.get(INCOMPLETE, claimed)
        if stored is not None:
            if stored["incomplete"]["kind"] != kind.value:
                raise _key_reused()
            return reference, Recorded(reference, bool(stored.get("answered", True)))
        return reference, None

    async def _record(
        self, document: Document, outbox: list[OutboxMessage], answered: bool
    ) -> Recorded:
        reference = document["_id"]
        try:
            await self.store.insert(INCOMPLETE, document, outbox=outbox)
        except DuplicateDocument:
            stored = await self.store.get(INCOMPLETE, reference)
            return Recorded(reference, bool(stored and stored.get("answered", True)))
        if answered:
            self.relay.wake()
        return Recorded(reference, answered)

"""A later message about a submission: stored and announced once per message and sender,
as the requester's only from the submission's address or as a reply in its thread."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import ValidationError

from casework.contract import Channel, CorrespondenceReceived, to_cloudevent
from casework.errors import Kind, Rejected
from casework.http import field_errors
from casework.store import DuplicateDocument, OutboxMessage
from services.intake.domain.addresses import same_mailbox
from services.intake.domain.submission import new_submission_id
from services.intake.usecases.base import (
    CORRESPONDENCE,
    SUBMISSIONS,
    TOPIC,
    IncomingAttachment,
    UseCaseBase,
    _address_of,
    _hashed_id,
    _kept,
    _require_utf8,
)


class Correspondence(UseCaseBase):
    async def add_correspondence(
        self,
        reference: str,
        *,
        channel: Channel,
        sender: str,
        text: str,
        message_id: str | None = None,
        attachments: Sequence[IncomingAttachment] = (),
        answered: Sequence[str] = (),
    ) -> bool:
        """A later message about submission ``reference``; False when there is no such one.
        Announced once per message id and sender.

        It speaks for the requester only from the address the submission was made with, or
        as a reply (``answered``: its In-Reply-To and References) to a message of the
        requester's that intake stored; anyone else's is filed as a third party's."""
        submission = await self.store.get(SUBMISSIONS, reference)
        if submission is None:
            return False
        _require_utf8(text, "text")
        _require_utf8(sender, "sender")
        self._check_attachments(attachments)
        verified_by = await self._verified_by(submission, sender, answered)
        now = self.clock()
        kept = [_kept(a) for a in attachments]
        try:
            event = CorrespondenceReceived(
                submission_id=reference,
                channel=channel,
                sender=sender,
                summary=text,
                message_id=message_id or "",
                attachments=[meta for meta, _ in kept],
                received_at=now,
                from_requester=verified_by is not None,
                sender_verified_by=verified_by,
            )
        except ValidationError as exc:
            raise Rejected(Kind.INVALID, "validation_failed", field_errors(exc)) from exc
        document = {
            "_id": _correspondence_id(reference, sender, message_id),
            "submission_id": reference,
            "message_id": message_id,
            "from_requester": verified_by is not None,
            "received_at": now.isoformat(),
            "correspondence": event.model_dump(mode="json"),
            "attachment_data": [data for _, data in kept],
        }
        try:
            await self.store.insert(
                CORRESPONDENCE, document, outbox=[OutboxMessage(TOPIC, to_cloudevent(event))]
            )
        except DuplicateDocument:
            return True
        self.relay.wake()
        return True

    async def _verified_by(
        self, submission: Mapping[str, Any], sender: str, answered: Sequence[str]
    ) -> Literal["address", "thread"] | None:
        address = submission.get("requester_address") or _address_of(
            None, ((submission.get("submission") or {}).get("requester") or {}).get("email")
        )
        if address and same_mailbox(sender, address):
            return "address"
        wanted = {a for a in answered if a}
        if not wanted:
            return None
        own = {submission.get("message_id")}
        earlier = await self.store.find(
            CORRESPONDENCE, {"submission_id": submission["_id"]}, limit=500
        )
        own |= {c.get("message_id") for c in earlier if c.get("from_requester")}
        return "thread" if wanted & {m for m in own if m} else None

    async def reference_for_message(self, message_ids: Sequence[str]) -> str | None:
        """The submission an earlier message (its Message-ID, or one of a reply's) belongs to."""
        for message_id in message_ids:
            if not message_id:
                continue
            found = await self.store.find(SUBMISSIONS, {"message_id": message_id}, limit=1)
            if found:
                return str(found[0]["_id"])
            replies = await self.store.find(CORRESPONDENCE, {"message_id": message_id}, limit=1)
            if replies:
                return str(replies[0]["submission_id"])
        return None


def _correspondence_id(reference: str, sender: str, message_id: str | None) -> str:
    """The same for a message delivered again (by message id and sender); random without one."""
    if message_id:
        return _hashed_id("C-", reference, sender.casefold(), message_id)
    return "C-" + new_submission_id().removeprefix("R-")

"""Taking in a submission, whatever the channel: validate, screen, rate-limit, store with its
event in one write. The API, the web form and the mail channel all come through here."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from casework.contract import Channel, SubmissionKind, SubmissionReceived, to_cloudevent
from casework.contract.intake import Attachment
from casework.errors import Kind, Rejected
from casework.faults import crash_point
from casework.store import Document, DuplicateDocument, OutboxMessage
from services.intake.domain.forms import Form
from services.intake.domain.rules import duplicate_of as find_duplicate
from services.intake.domain.rules import screen
from services.intake.domain.submission import accept, fingerprint, new_submission_id
from services.intake.usecases.base import (
    IDEMPOTENCY_FIELD,
    SUBMISSIONS,
    TOPIC,
    Accepted,
    IncomingAttachment,
    UseCaseBase,
    _address_of,
    _claim_id,
    _kept,
    _key_reused,
    _scope,
)


class Submit(UseCaseBase):
    async def submit(
        self,
        kind: SubmissionKind,
        payload: Mapping[str, Any],
        *,
        channel: Channel,
        idempotency_key: str | None,
        sender: str | None = None,
        client: str | None = None,
        message_id: str | None = None,
        attachments: Sequence[IncomingAttachment] = (),
    ) -> Accepted:
        """Accept a submission of ``kind`` (``payload`` shaped as the API body of that kind).

        Raises Rejected naming each field and rule (nothing stored), or RateLimited.
        A repeated idempotency key with the same content answers the first reference.
        """
        _check_key(idempotency_key)
        form = self.validate(kind, payload)
        self._check_attachments(attachments)
        print_ = fingerprint(form)
        requester = form.requester_of()
        target = form.target()
        now = self.clock()
        # Reads first, together: the key's earlier submission, an earlier duplicate. Then the
        # limits (one counter write per window, shared by the submissions arriving with it),
        # then the one insert, which settles a twin request with the same key.
        scope = _scope(channel, sender, client)
        found = await self._reference(idempotency_key, scope, print_, target, now)
        if isinstance(found, Accepted):
            return found
        submission_id, duplicate = found
        await self.limiter.consume(
            sender=sender or (requester.email if requester else None),
            client=client,
            now=now,
            mail=channel is Channel.EMAIL,
        )
        kept = [_kept(a) for a in attachments]
        event = self._event(form, submission_id, channel, now, duplicate, kept)
        document = {
            "_id": submission_id,
            "kind": kind.value,
            "channel": channel.value,
            "fingerprint": print_,
            "received_at": now.isoformat(),
            "target": target,
            "message_id": message_id,
            # The address the submission was made with: mail from it speaks for the requester.
            "requester_address": _address_of(
                sender if channel is Channel.EMAIL else None,
                requester.email if requester else None,
            ),
            "submission": event.model_dump(mode="json"),
            "attachment_data": [data for _, data in kept],
        }
        outbox = [OutboxMessage(TOPIC, to_cloudevent(event))]
        return await self._store(document, outbox, print_)

    async def _reference(
        self, key: str | None, scope: str, print_: str, target: str | None, now: datetime
    ) -> Accepted | tuple[str, str | None]:
        """A keyed submission's earlier answer (a replay), or the submission's reference and
        the earlier submission it duplicates."""
        if not key:
            return new_submission_id(), await self._duplicate(target, now)
        claim_id = _claim_id("submission", scope, key)
        submission_id = await self.keys.keyed_reference(claim_id)
        existing, claimed, duplicate = await asyncio.gather(
            self.store.get(SUBMISSIONS, submission_id),
            self._claimed(claim_id, print_),
            self._duplicate(target, now),
        )
        if existing is not None:
            return self._replay(existing, print_, submission_id)
        if claimed is not None:  # a key claimed before references came from keys
            if await self.store.get(SUBMISSIONS, claimed):
                return Accepted(claimed, replayed=True)
            submission_id = claimed  # claimed, then not stored (a crash): finish it
        return submission_id, duplicate

    def _event(
        self,
        form: Form,
        submission_id: str,
        channel: Channel,
        now: datetime,
        duplicate: str | None,
        kept: Sequence[tuple[Attachment, dict[str, str]]],
    ) -> SubmissionReceived:
        return accept(
            form,
            self.rules,
            submission_id=submission_id,
            channel=channel,
            now=now,
            screening=screen(form, self.rules),
            duplicate_of=duplicate,
            attachments=[meta for meta, _ in kept],
        )

    async def _store(
        self, document: Document, outbox: list[OutboxMessage], print_: str
    ) -> Accepted:
        """The one insert, with its event; a twin request that won the insert is replayed."""
        submission_id = document["_id"]
        try:
            await self.store.insert(SUBMISSIONS, document, outbox=outbox)
        except DuplicateDocument:
            again = await self.store.get(SUBMISSIONS, submission_id)
            assert again is not None
            return self._replay(again, print_, submission_id)
        crash_point("intake.after-store")
        self.relay.wake()
        return Accepted(submission_id, replayed=False)

    def _replay(self, existing: Mapping[str, Any], print_: str, submission_id: str) -> Accepted:
        if existing.get("fingerprint") != print_:
            raise _key_reused()
        return Accepted(submission_id, replayed=True)

    async def _duplicate(self, target: str | None, now: datetime) -> str | None:
        if not target:
            return None
        window = self.rules.intake.duplicate_window_days
        earlier = await self.store.find(
            SUBMISSIONS, {"target": target}, order_by="received_at", descending=True, limit=20
        )
        return find_duplicate(
            [
                (
                    d["_id"],
                    datetime.fromisoformat(d["received_at"]),
                    d.get("submission", {}).get("duplicate_of"),
                )
                for d in earlier
            ],
            now,
            window,
        )


def _check_key(idempotency_key: str | None) -> None:
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
        raise Rejected.one(
            Kind.INVALID,
            "validation_failed",
            IDEMPOTENCY_FIELD,
            "length",
            "must be 1 to 200 characters",
        )

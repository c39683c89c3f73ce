"""The one delivery sender every concern of notify sends through, once per message.

Every message has an idempotency key (case, audience, channel, decision revision or
event) and a delivery record (services/notify/adapters/deliveries.py), so a redelivered
event or a restart never sends twice: the record is begun (`sending`, with the
Message-ID derived from the key) before the SMTP call and finished after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from casework.contract import Audience
from casework.outbox import OutboxRelay
from casework.store import DocumentStore, DuplicateDocument
from casework.updates import update_document
from services.notify.adapters.deliveries import Deliveries, message_id
from services.notify.adapters.smtp import DeliveryFailed, Mailer, build_message
from services.notify.domain.render import RenderedEmail

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outgoing:
    key: str
    case_id: str
    audience: Audience
    to: str
    rendered: RenderedEmail
    in_reply_to: str | None = None


class Sender:
    """Delivery records, Message-IDs, the SMTP call, and the store writes around them."""

    def __init__(
        self,
        store: DocumentStore,
        relay: OutboxRelay,
        mailer: Mailer,
        deliveries: Deliveries,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.relay = relay
        self.mailer = mailer
        self.deliveries = deliveries
        self.clock = clock

    async def send(self, out: Outgoing) -> None:
        record = await self.deliveries.begin(
            out.key,
            {
                "case_id": out.case_id,
                "audience": str(out.audience),
                "channel": "email",
                "message_id": message_id(out.key),
            },
        )
        if record.finished:
            return
        message = build_message(
            sender=self.mailer.settings.sender,
            to=out.to,
            subject=out.rendered.subject,
            body=out.rendered.body,
            html=out.rendered.html,
            message_id=message_id(out.key),
            language=out.rendered.language,
            in_reply_to=out.in_reply_to,
        )
        async with self.deliveries.kept(out.key):
            await self._send(out, message)
        self.relay.wake()
        log.info("case %s: %s email %s", out.case_id, out.audience, out.key)

    async def _send(self, out: Outgoing, message: EmailMessage) -> None:
        try:
            attempts = await self.mailer.send(message)
        except DeliveryFailed as exc:
            log.warning("case %s: %s email failed: %s", out.case_id, out.audience, exc.reason)
            await self.deliveries.finish(
                out.key,
                case_id=out.case_id,
                audience=out.audience,
                channel="email",
                state="failed",
                reference=exc.reason,
                now=self.clock(),
                attempts=exc.attempts,
                permanent=exc.permanent,
            )
        else:
            await self.deliveries.finish(
                out.key,
                case_id=out.case_id,
                audience=out.audience,
                channel="email",
                state="sent",
                reference=message_id(out.key),
                now=self.clock(),
                attempts=attempts,
            )

    async def skip(self, key: str, case_id: str, audience: Audience, channel: str) -> None:
        await self.deliveries.finish(
            key,
            case_id=case_id,
            audience=audience,
            channel=channel,
            state="skipped",
            reference="no address on record",
            now=self.clock(),
        )

    async def put(self, collection: str, doc_id: str, fields: dict[str, Any]) -> None:
        try:
            await self.store.insert(collection, {"_id": doc_id, **fields})
        except DuplicateDocument:

            def merge(doc: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
                return {**doc, **fields}, []

            await update_document(self.store, collection, doc_id, merge)

    async def insert_once(self, collection: str, doc_id: str, fields: dict[str, Any]) -> None:
        try:
            await self.store.insert(collection, {"_id": doc_id, **fields})
        except DuplicateDocument:
            pass

"""Notify's reactions: tell each audience what it may know about an enforced action."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from jinja2 import Environment

from casework.cloudevents import CloudEvent
from casework.contract import (
    ActionEnforced,
    Audience,
    NotificationSent,
    from_cloudevent,
    to_cloudevent,
    topic_of,
)
from casework.mediawiki import EditResult, PageRevision
from casework.outbox import OutboxRelay
from casework.policy import Policy
from casework.store import Document, DocumentStore, DuplicateDocument, OutboxMessage
from casework.updates import update_document
from services.notify.mailer import Mailer, build_message
from services.notify.render import affected_user_email, public_statement, statement_marker
from services.notify.views import affected_user_view, public_view

log = logging.getLogger(__name__)

NOTIFICATIONS = "notifications"
MESSAGE_ID_DOMAIN = "officeactions.casework"


class StatementWiki(Protocol):
    async def page(self, title: str) -> PageRevision | None: ...

    async def edit(
        self,
        title: str,
        *,
        text: str | None = None,
        appendtext: str | None = None,
        summary: str,
        baserevid: int | None = None,
        createonly: bool = False,
        nocreate: bool = False,
    ) -> EditResult: ...


Delivery = Callable[[ActionEnforced], Awaitable[tuple[str, str]]]


class Notifier:
    def __init__(
        self,
        store: DocumentStore,
        relay: OutboxRelay,
        policy: Policy,
        templates: Environment,
        mailer: Mailer,
        wiki: StatementWiki,
        public_log_page: str,
    ) -> None:
        self.store = store
        self.relay = relay
        self.policy = policy
        self.templates = templates
        self.mailer = mailer
        self.wiki = wiki
        self.public_log_page = public_log_page

    async def handle(self, event: CloudEvent) -> None:
        data = from_cloudevent(event)
        if isinstance(data, ActionEnforced):
            await self.action_enforced(data)

    async def action_enforced(self, enforced: ActionEnforced) -> None:
        """Each delivery is recorded once done, so a redelivered event repeats none of them."""
        try:
            await self.store.insert(NOTIFICATIONS, {"_id": enforced.case_id, "deliveries": {}})
        except DuplicateDocument:
            pass
        deliveries: list[tuple[Audience, str, Delivery]] = [
            (Audience.AFFECTED_USER, "email", self._email_affected_user),
            (Audience.PUBLIC, "wiki-page", self._publish_statement),
        ]
        for audience, channel, deliver in deliveries:
            key = f"{audience}:{channel}"
            doc = await self.store.get(NOTIFICATIONS, enforced.case_id)
            assert doc is not None
            if key in doc["deliveries"]:
                continue
            state, reference = await deliver(enforced)
            await self._record(enforced.case_id, audience, channel, state, reference)

    async def _email_affected_user(self, enforced: ActionEnforced) -> tuple[str, str]:
        address = enforced.decision.subject.email
        if address is None:
            return "skipped", "no address on record for the affected user"
        email = affected_user_email(self.templates, affected_user_view(enforced, self.policy))
        message_id = f"<{enforced.case_id}.affected-user@{MESSAGE_ID_DOMAIN}>"
        await self.mailer.send(
            build_message(
                sender=self.mailer.settings.sender,
                to=address,
                subject=email.subject,
                body=email.body,
                message_id=message_id,
                language=email.language,
            )
        )
        return "sent", message_id

    async def _publish_statement(self, enforced: ActionEnforced) -> tuple[str, str]:
        marker = statement_marker(enforced.case_id)
        current = await self.wiki.page(self.public_log_page)
        if current is not None and marker in current.text:
            return "sent", f"{self.public_log_page}?oldid={current.revid}"
        text = public_statement(self.templates, public_view(enforced, self.policy))
        result = await self.wiki.edit(
            self.public_log_page,
            appendtext=("\n\n" if current is not None else "") + text,
            summary=f"Office action {enforced.case_id}: public statement",
        )
        return "sent", f"{self.public_log_page}?oldid={result.newrevid}"

    async def _record(
        self, case_id: str, audience: Audience, channel: str, state: str, reference: str
    ) -> None:
        now = datetime.now(UTC)
        key = f"{audience}:{channel}"
        outbox = []
        if state == "sent":
            sent = NotificationSent(
                case_id=case_id,
                audience=audience,
                channel=channel,
                reference=reference,
                sent_at=now,
            )
            outbox.append(OutboxMessage(topic_of("notify"), to_cloudevent(sent)))

        def change(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            if key in doc["deliveries"]:
                return doc, []
            deliveries = {
                **doc["deliveries"],
                key: {"state": state, "reference": reference, "at": now.isoformat()},
            }
            return {**doc, "deliveries": deliveries}, outbox

        await update_document(self.store, NOTIFICATIONS, case_id, change)
        self.relay.wake()
        log.info("case %s: %s via %s %s (%s)", case_id, audience, channel, state, reference)

"""One mail, whatever brought it (SMTP, LMTP, IMAP): parse, thread or submit, or answer
what is missing. Idempotent by Message-ID, so a redelivered mail changes nothing.

Outcomes: a list of :class:`Delivered` (stored), :class:`MailRefused` (permanent: the
sender is told why, nothing stored) or :class:`MailDeferred` (over a rate limit: deliver
again later). Any other exception is a transient failure of the store or broker: the
caller keeps the mail and delivers it again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from casework.contract import Channel, SubmissionKind
from casework.errors import FieldError, Rejected
from services.intake.adapters.rate_limits import RateLimited
from services.intake.domain.mail.mapping import (
    REFERRING_KINDS,
    Mapped,
    Routing,
    map_mail,
    reference_in,
)
from services.intake.domain.mail.parse import InboundMail, MailLimits, ParseError, parse_mail
from services.intake.usecases.base import Accepted, IncomingAttachment, Recorded

log = logging.getLogger(__name__)


class SubmissionPort(Protocol):
    """What the pipeline needs from intake's use cases (``Submissions``)."""

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
    ) -> Accepted: ...

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
    ) -> Recorded: ...

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
    ) -> bool: ...

    async def reference_for_message(self, message_ids: Sequence[str]) -> str | None: ...


@dataclass(frozen=True)
class Delivered:
    outcome: str  # submitted | replayed | threaded | incomplete | unanswered
    reference: str
    kind: SubmissionKind | None = None


class MailRefused(Exception):
    """Permanent: the mail is not accepted as it is. ``code`` is the SMTP reply code."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


class MailDeferred(Exception):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MailPipeline:
    def __init__(
        self,
        submissions: SubmissionPort,
        routing: Routing,
        limits: MailLimits | None = None,
        *,
        default_kind: SubmissionKind | None = None,
    ) -> None:
        self.submissions = submissions
        self.routing = routing
        self.limits = limits or MailLimits()
        self.default_kind = default_kind

    async def deliver(
        self,
        raw: bytes,
        recipients: Sequence[str] | None = None,
        *,
        client: str | None = None,
        envelope_sender: str | None = None,
    ) -> list[Delivered]:
        """``recipients``: the envelope's (SMTP/LMTP); None reads them from the headers.
        ``client``: the connecting peer's address, for its rate limits. ``envelope_sender``:
        MAIL FROM, empty for a bounce (which is never answered)."""
        try:
            mail = parse_mail(raw, self.limits)
        except ParseError as exc:
            code, status = (552, "5.3.4") if exc.rule == "size" else (550, "5.6.0")
            raise MailRefused(code, status, f"{exc.rule}: {exc.message}") from exc
        kinds = self._kinds(recipients if recipients is not None else mail.recipients)
        if not kinds:
            raise MailRefused(550, "5.1.1", "no recipient address of this service")
        message_key = mail.message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
        arrival = _Arrival(client, _no_answer(mail, envelope_sender))
        results = []
        try:
            for kind in kinds:
                mapped = map_mail(kind, mail, self.routing)
                try:
                    threaded = await self._thread(mail, mapped)
                except Rejected as exc:  # e.g. an attachment the policy does not accept
                    results.append(await self._incomplete(mail, mapped, exc.errors, arrival))
                    continue
                if threaded is not None:
                    return [Delivered("threaded", threaded)]
                results.append(await self._submit(mail, mapped, message_key, arrival))
        except Rejected as exc:  # not even the answer can be recorded (e.g. the sender)
            raise MailRefused(550, "5.6.0", str(exc)) from exc
        except RateLimited as exc:  # over the client's limit of answers: deliver again later
            raise MailDeferred(str(exc), exc.retry_after) from exc
        return results

    def _kinds(self, recipients: Sequence[str]) -> list[SubmissionKind]:
        found = [k for k in (self.routing.kind_for(r) for r in recipients) if k is not None]
        if not found and self.default_kind is not None:
            found = [self.default_kind]
        return list(dict.fromkeys(found))

    async def _thread(self, mail: InboundMail, mapped: Mapped) -> str | None:
        """A reply to an existing submission: by the reference in its subject, else by the
        message ids it answers. A new appeal (or inquiry…) naming that reference as its case
        is not a reply."""
        reference = reference_in(mail.subject)
        port = self.submissions
        attachments = _attachments(mail)
        answered = [*mail.in_reply_to, *mail.references]
        if reference and not (mapped.kind in REFERRING_KINDS and mapped.explicit_case == reference):
            if await port.add_correspondence(
                reference,
                channel=Channel.EMAIL,
                sender=mail.sender,
                text=_correspondence_text(mail),
                message_id=mail.message_id,
                attachments=attachments,
                answered=answered,
            ):
                return reference
        if answered:
            found = await port.reference_for_message(answered)
            if found and await port.add_correspondence(
                found,
                channel=Channel.EMAIL,
                sender=mail.sender,
                text=_correspondence_text(mail),
                message_id=mail.message_id,
                attachments=attachments,
                answered=answered,
            ):
                return found
        return None

    async def _submit(
        self, mail: InboundMail, mapped: Mapped, message_key: str, arrival: _Arrival
    ) -> Delivered:
        if mapped.missing:
            return await self._incomplete(mail, mapped, mapped.missing, arrival)
        attachments = _attachments(mail)
        if mapped.full_text is not None:
            full = IncomingAttachment("message.txt", "text/plain", mapped.full_text.encode())
            attachments = [*attachments, full]
        try:
            accepted = await self.submissions.submit(
                mapped.kind,
                mapped.payload,
                channel=Channel.EMAIL,
                idempotency_key=f"mail:{mapped.kind.value}:{message_key}"[:200],
                sender=mail.sender,
                client=arrival.client,
                message_id=mail.message_id,
                attachments=attachments,
            )
        except Rejected as exc:
            return await self._incomplete(mail, mapped, exc.errors, arrival)
        except RateLimited as exc:
            raise MailDeferred(str(exc), exc.retry_after) from exc
        outcome = "replayed" if accepted.replayed else "submitted"
        log.info("mail %s: %s %s", mail.message_id, outcome, accepted.reference)
        return Delivered(outcome, accepted.reference, mapped.kind)

    async def _incomplete(
        self, mail: InboundMail, mapped: Mapped, missing: Sequence[FieldError], arrival: _Arrival
    ) -> Delivered:
        recorded = await self.submissions.report_incomplete(
            mapped.kind,
            missing,
            channel=Channel.EMAIL,
            requester_email=mail.sender,
            requester_name=mail.sender_name[:200],
            language=mapped.language,
            message_id=mail.message_id,
            client=arrival.client,
            answer=arrival.no_answer is None,
        )
        outcome = "incomplete" if recorded.answered else "unanswered"
        log.info(
            "mail %s: %s %s (%s)%s",
            mail.message_id,
            outcome,
            recorded.reference,
            ", ".join(f"{m.field}: {m.rule}" for m in missing),
            f"; not answered: {arrival.no_answer}" if arrival.no_answer else "",
        )
        return Delivered(outcome, recorded.reference, mapped.kind)


@dataclass(frozen=True)
class _Arrival:
    client: str | None
    no_answer: str | None  # why no answer may go back to the sender


def _no_answer(mail: InboundMail, envelope_sender: str | None) -> str | None:
    if mail.automated is not None:
        return mail.automated
    if envelope_sender is not None and envelope_sender.strip() in ("", "<>"):
        return "null envelope sender"
    return None


def _attachments(mail: InboundMail) -> list[IncomingAttachment]:
    return [IncomingAttachment(a.name, a.content_type, a.data) for a in mail.attachments]


def _correspondence_text(mail: InboundMail) -> str:
    text = mail.text or "\n\n".join(mail.forwarded) or "(no text)"
    return f"Subject: {mail.subject}\n\n{text}"[:20000]

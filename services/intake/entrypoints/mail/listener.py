"""The SMTP and LMTP listeners (aiosmtpd) in the service's own event loop.

Replies: 250 once the mail is durably stored (as a submission, a reply to one, or an
incomplete request notify answers); 550 for an unknown recipient or a mail that cannot be
accepted as it is (the reason follows the code); 552 over the size limit; 451 over a rate
limit or when the store or broker fails, so the MTA delivers again and nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from services.intake.domain.mail.mapping import Routing
from services.intake.usecases.mail import MailDeferred, MailPipeline, MailRefused

log = logging.getLogger(__name__)


def _ascii(text: str, limit: int = 400) -> str:
    flat = " ".join(text.split())
    return flat.encode("ascii", "replace").decode()[:limit]


class MailHandler:
    """aiosmtpd handler hooks: RCPT checks the address, DATA runs the pipeline."""

    def __init__(self, pipeline: MailPipeline, routing: Routing, *, lmtp: bool = False) -> None:
        self.pipeline = pipeline
        self.routing = routing
        self.lmtp = lmtp

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.routing.kind_for(address) is None:
            return f"550 5.1.1 <{_ascii(address, 200)}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        peer = session.peer[0] if isinstance(session.peer, tuple) and session.peer else None
        status = await self._status(
            raw, list(envelope.rcpt_tos), client=peer, envelope_sender=envelope.mail_from
        )
        if self.lmtp:  # LMTP answers once per recipient (RFC 2033 §4.2)
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status

    async def _status(
        self,
        raw: bytes,
        recipients: list[str],
        *,
        client: str | None = None,
        envelope_sender: str | None = None,
    ) -> str:
        try:
            delivered = await self.pipeline.deliver(
                raw, recipients, client=client, envelope_sender=envelope_sender
            )
        except MailRefused as exc:
            log.info("mail refused: %s %s", exc.code, exc.message)
            return f"{exc.code} {exc.status} {_ascii(exc.message)}"
        except MailDeferred as exc:
            return f"451 4.7.1 {_ascii(str(exc))}"
        except Exception:
            log.exception("mail not stored; the sender's MTA will deliver it again")
            return "451 4.3.0 temporary failure, please try again later"
        references = ", ".join(f"{d.outcome} {d.reference}" for d in delivered)
        return f"250 2.0.0 {_ascii(references)}"


class MailListener:
    """One listening socket speaking SMTP, or LMTP when ``lmtp`` is set."""

    def __init__(
        self,
        pipeline: MailPipeline,
        routing: Routing,
        *,
        host: str,
        port: int,
        lmtp: bool = False,
        max_bytes: int,
        hostname: str = "intake.casework",
    ) -> None:
        self.handler = MailHandler(pipeline, routing, lmtp=lmtp)
        self.host = host
        self.port = port
        self.lmtp = lmtp
        self.max_bytes = max_bytes
        self.hostname = hostname
        self.server: asyncio.Server | None = None

    def _protocol(self) -> SMTP:
        options: dict[str, Any] = {
            "hostname": self.hostname,
            "data_size_limit": self.max_bytes,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "ident": "casework intake",
        }
        return LMTP(self.handler, **options) if self.lmtp else SMTP(self.handler, **options)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._protocol, self.host, self.port)
        log.info("%s listening on %s:%s", "LMTP" if self.lmtp else "SMTP", self.host, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def serve(self) -> None:
        """A duty: listen until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

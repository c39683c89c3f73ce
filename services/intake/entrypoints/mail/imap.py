"""The IMAP poller: unseen mail in a mailbox goes through the same pipeline as SMTP mail.

At least once: a mail is fetched without marking it (BODY.PEEK), and moved to the
processed folder (or flagged \\Seen when there is none) only after it was stored; the
Message-ID idempotency makes a second delivery a no-op. A mail that can never be accepted
goes to the quarantine folder with the reason logged. A transient failure leaves it for
the next poll. Blocking imaplib calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from services.intake.adapters.imap import ImapConfig, ImapMailbox
from services.intake.usecases.mail import MailDeferred, MailPipeline, MailRefused

log = logging.getLogger(__name__)


@dataclass
class PollReport:
    stored: int = 0
    quarantined: int = 0
    deferred: int = 0


class ImapPoller:
    def __init__(self, pipeline: MailPipeline, config: ImapConfig) -> None:
        self.pipeline = pipeline
        self.config = config
        self.polls = 0

    async def poll_once(self) -> PollReport:
        mailbox = ImapMailbox(self.config)
        report = PollReport()
        try:
            await asyncio.to_thread(mailbox.open)
            for uid in await asyncio.to_thread(mailbox.unseen):
                await self._handle(mailbox, uid, report)
        finally:
            await asyncio.to_thread(mailbox.close)
            self.polls += 1
        return report

    async def _handle(self, mailbox: ImapMailbox, uid: str, report: PollReport) -> None:
        raw = await asyncio.to_thread(mailbox.fetch, uid)
        if raw is None:
            return
        try:
            await self.pipeline.deliver(raw)
        except MailRefused as exc:
            log.warning("IMAP uid %s quarantined: %s", uid, exc.message)
            await asyncio.to_thread(mailbox.move, uid, self.config.quarantine_folder)
            report.quarantined += 1
            return
        except MailDeferred as exc:
            log.info("IMAP uid %s deferred: %s", uid, exc)
            report.deferred += 1
            return
        except Exception:
            log.exception("IMAP uid %s not stored; it stays unseen for the next poll", uid)
            report.deferred += 1
            return
        await asyncio.to_thread(mailbox.move, uid, self.config.processed_folder)
        report.stored += 1

    async def poll(self) -> None:
        """One pass of the polling duty (app.py runs it every ``poll_seconds``); a failed
        poll raises, and the duty logs it and tries again."""
        report = await self.poll_once()
        if report.stored or report.quarantined:
            log.info("IMAP poll: %s", report)

"""The IMAP poller: unseen mail in a mailbox goes through the same pipeline as SMTP mail.

At least once: a mail is fetched without marking it (BODY.PEEK), and moved to the
processed folder (or flagged \\Seen when there is none) only after it was stored; the
Message-ID idempotency makes a second delivery a no-op. A mail that can never be accepted
goes to the quarantine folder with the reason logged. A transient failure leaves it for
the next poll. Blocking imaplib calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.intake.mail.pipeline import MailDeferred, MailPipeline, MailRefused

log = logging.getLogger(__name__)

_UID = re.compile(rb"UID (\d+)")


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    poll_seconds: float = 30.0
    batch: int = 50

    def __repr__(self) -> str:  # never show the password
        return f"ImapConfig(host={self.host!r}, port={self.port}, user={self.user!r})"


@dataclass
class PollReport:
    stored: int = 0
    quarantined: int = 0
    deferred: int = 0


class ImapMailbox:
    """The few IMAP commands the poller needs, on one blocking connection."""

    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self.conn: imaplib.IMAP4 | None = None
        self.can_move = False

    def open(self) -> None:
        conn = imaplib.IMAP4(self.config.host, self.config.port, timeout=30)
        conn.login(self.config.user, self.config.password)
        for folder in (self.config.processed_folder, self.config.quarantine_folder):
            if folder:
                conn.create(_quote(folder))  # "already exists" is a NO, which is fine
        _ok(conn.select(_quote(self.config.folder)), "select")
        _, caps = conn.capability()  # imaplib keeps only the pre-login capabilities
        self.can_move = b"MOVE" in bytes(caps[0] or b"").upper().split()
        self.conn = conn

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.logout()
            except (OSError, imaplib.IMAP4.error):
                pass
            self.conn = None

    def unseen(self) -> list[str]:
        typ, data = self._conn.uid("SEARCH", "UNSEEN")
        _ok((typ, data), "search")
        first = data[0] if data else b""
        return (first or b"").decode().split()[: self.config.batch]

    def fetch(self, uid: str) -> bytes | None:
        typ, data = self._conn.uid("FETCH", uid, "(BODY.PEEK[])")
        _ok((typ, data), "fetch")
        for item in data:
            if isinstance(item, tuple) and _UID.search(item[0]):
                return bytes(item[1])
        return None

    def move(self, uid: str, folder: str) -> None:
        conn = self._conn
        if not folder:
            _ok(conn.uid("STORE", uid, "+FLAGS", "(\\Seen)"), "store")
            return
        if self.can_move:
            _ok(conn.uid("MOVE", uid, _quote(folder)), "move")
            return
        _ok(conn.uid("COPY", uid, _quote(folder)), "copy")
        _ok(conn.uid("STORE", uid, "+FLAGS", "(\\Deleted \\Seen)"), "store")
        conn.expunge()

    @property
    def _conn(self) -> imaplib.IMAP4:
        if self.conn is None:
            raise imaplib.IMAP4.error("not connected")
        return self.conn


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

    async def run(self) -> None:
        """A duty: poll until cancelled; a failed poll is logged and retried next interval."""
        while True:
            try:
                report = await self.poll_once()
                if report.stored or report.quarantined:
                    log.info("IMAP poll: %s", report)
            except (OSError, imaplib.IMAP4.error) as exc:
                log.warning(
                    "IMAP poll of %s:%s failed: %s", self.config.host, self.config.port, exc
                )
            await asyncio.sleep(self.config.poll_seconds)  # wait-ok: the polling interval


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(response: tuple[str, Sequence[Any]], what: str) -> None:
    typ, data = response
    if typ != "OK":
        raise imaplib.IMAP4.error(f"IMAP {what} failed: {data!r}")

"""The IMAP mailbox intake polls: the few commands it needs, on one blocking connection
(the poller, entrypoints/mail/imap.py, runs them in a worker thread)."""

from __future__ import annotations

import imaplib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(response: tuple[str, Sequence[Any]], what: str) -> None:
    typ, data = response
    if typ != "OK":
        raise imaplib.IMAP4.error(f"IMAP {what} failed: {data!r}")

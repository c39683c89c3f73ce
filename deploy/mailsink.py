"""A real SMTP server that keeps every message it receives in a Maildir.

The sandbox's outgoing mail lands here: `make run` starts it on port 8025 and a
person reads the messages under var/mail/new/ (one file each, plain RFC 5322).

    python -m deploy.mailsink --port 8025 --maildir var/mail
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import mailbox
import signal
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)


class MaildirHandler:
    def __init__(self, maildir: Path) -> None:
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(maildir, create=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        header = (
            f"X-Sink-Mail-From: {envelope.mail_from}\r\n"
            f"X-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        key = self.maildir.add(header + content)
        log.info("kept message %s for %s", key, envelope.rcpt_tos)
        return "250 Message accepted for delivery"


class MailSink:
    """Start/stop wrapper usable from tests and from the CLI."""

    def __init__(self, maildir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.path = maildir
        self.handler = MaildirHandler(maildir)
        self.controller = Controller(self.handler, hostname=host, port=port)
        self.host = host
        self.port = port

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def messages(self) -> list[mailbox.MaildirMessage]:
        return read_maildir(self.path)

    def __enter__(self) -> MailSink:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def read_maildir(path: Path) -> list[mailbox.MaildirMessage]:
    box = mailbox.Maildir(path, create=False)
    return [box[key] for key in sorted(box.keys())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--maildir", type=Path, default=Path("var/mail"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mailsink %(message)s")
    sink = MailSink(args.maildir, args.port, args.host)
    sink.start()
    print(
        f"SMTP sink on smtp://{args.host}:{args.port}, keeping mail in {args.maildir}", flush=True
    )

    async def wait_for_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait_for_signal())
    finally:
        sink.stop()


if __name__ == "__main__":
    main()

"""Read the mail the sandbox sent: one line per message, or one message as a person reads it.

    python -m deploy.mail list            # number, time (UTC), recipient, language, subject
    python -m deploy.mail show 3          # message 3: its headers that matter and its text
    python -m deploy.mail list --maildir var/mail

`make run`'s SMTP sink keeps every message under var/mail/new/ as raw MIME (a text and an
HTML part, encoded): this says which message is which without reading the files.
"""

from __future__ import annotations

import argparse
import email.policy
import mailbox
import sys
from collections.abc import Sequence
from datetime import UTC
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

DEFAULT_MAILDIR = Path("var/mail")


def messages(maildir: Path) -> list[EmailMessage]:
    """Every kept message, oldest first (by the time the sink stored it)."""
    if not all((maildir / sub).is_dir() for sub in ("new", "cur", "tmp")):
        return []
    box = mailbox.Maildir(maildir, factory=None, create=False)
    kept = sorted((box.get_message(key).get_date(), key) for key in box.keys())
    parser = BytesParser(policy=email.policy.default)
    parsed = []
    for _, key in kept:
        message = parser.parsebytes(box.get_bytes(key))
        assert isinstance(message, EmailMessage)
        parsed.append(message)
    return parsed


def recipient(message: EmailMessage) -> str:
    return str(message.get("X-Sink-Rcpt-To") or message.get("To") or "?")


def listing(found: Sequence[EmailMessage]) -> list[str]:
    lines = []
    for n, message in enumerate(found, start=1):
        date = message.get("Date")
        when = (
            date.datetime.astimezone(UTC).strftime("%H:%M:%S")
            if date is not None and getattr(date, "datetime", None)
            else "--:--:--"
        )
        language = str(message.get("Content-Language") or "-")
        lines.append(
            f"{n:>3}  {when}  {recipient(message):<32}  {language:<5}  {message['Subject']}"
        )
    return lines


def shown(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else "(no text part)"
    head = [f"{name}: {message[name]}" for name in ("Subject", "From", "Date", "Message-ID")]
    head.insert(1, f"To: {recipient(message)}")
    head.append(f"Language: {message.get('Content-Language') or '-'}")
    return "\n".join([*head, "", str(text).rstrip()])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.mail", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--maildir", type=Path, default=DEFAULT_MAILDIR, help="the sink's Maildir")
    # Also after the command; SUPPRESS keeps one given before it from being reset.
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--maildir", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="one line per message", parents=[where])
    show = commands.add_parser("show", help="one message's text", parents=[where])
    show.add_argument("number", type=int, help="its number in `list`")
    args = parser.parse_args(argv)
    found = messages(args.maildir)
    if args.command == "list":
        if not found:
            print(f"no mail in {args.maildir}/new yet")
        for line in listing(found):
            print(line)
        return 0
    if not 1 <= args.number <= len(found):
        print(f"number: there are {len(found)} messages (1 to {len(found)})", file=sys.stderr)
        return 2
    print(shown(found[args.number - 1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

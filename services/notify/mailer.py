"""Outgoing mail over SMTP (aiosmtplib)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    sender: str


def build_message(
    *, sender: str, to: str, subject: str, body: str, message_id: str, language: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Content-Language"] = language
    message["Auto-Submitted"] = "auto-generated"
    # 8bit keeps the text readable in mailboxes and sinks; relays advertise 8BITMIME.
    message.set_content(body, cte="8bit")
    return message


class Mailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> None:
        s = self.settings
        await aiosmtplib.send(
            message,
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            start_tls=s.starttls,
            timeout=30,
        )

    async def ping(self) -> None:
        client = aiosmtplib.SMTP(hostname=self.settings.host, port=self.settings.port, timeout=5)
        await client.connect(start_tls=False)
        await client.quit()

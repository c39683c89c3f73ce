"""Outgoing mail over SMTP (aiosmtplib), retried with backoff (tenacity).

A 4xx reply or a lost connection is transient and retried; a 5xx reply or a
refused recipient is permanent (a bounce) and never retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    sender: str
    attempts: int = 5
    backoff_seconds: float = 1.0


class DeliveryFailed(Exception):
    """The message did not go out; `permanent` when retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.attempts = attempts


def is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return True
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 500 <= exc.code < 600
    return False


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    html: str | None = None,
    message_id: str,
    language: str,
    in_reply_to: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Auto-Submitted"] = "auto-generated"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    # 8bit keeps the text readable in mailboxes and sinks; relays advertise 8BITMIME.
    message.set_content(body, cte="8bit")
    if html is not None:
        message.add_alternative(html, subtype="html", cte="8bit")
    # After the parts: making the message multipart moves Content-* headers into them.
    del message["Content-Language"]
    message["Content-Language"] = language
    return message


class Mailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def _send_once(self, message: EmailMessage) -> None:
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

    async def send(self, message: EmailMessage) -> int:
        """Send, retrying transient failures; the number of attempts it took.

        Raises DeliveryFailed (permanent or after the last attempt).
        """
        s = self.settings
        attempt = 0
        try:
            async for trying in AsyncRetrying(
                stop=stop_after_attempt(s.attempts),
                wait=wait_exponential(multiplier=s.backoff_seconds, max=60),
                retry=retry_if_exception(
                    lambda e: (
                        isinstance(e, (aiosmtplib.SMTPException, OSError)) and not is_permanent(e)
                    )
                ),
                reraise=False,
            ):
                with trying:
                    attempt = trying.retry_state.attempt_number
                    await self._send_once(message)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise DeliveryFailed(repr(last), permanent=True, attempts=attempt) from last
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(repr(exc), permanent=is_permanent(exc), attempts=attempt) from exc
        return attempt

    async def ping(self) -> None:
        client = aiosmtplib.SMTP(hostname=self.settings.host, port=self.settings.port, timeout=5)
        await client.connect(start_tls=False)
        await client.quit()

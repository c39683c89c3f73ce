"""Outgoing mail over SMTP (aiosmtplib), retried with backoff (tenacity).

A 4xx reply or a lost connection is transient and retried; a 5xx reply or a
refused recipient is permanent (a bounce) and never retried.

Connections are kept and reused, at most ``connections`` to the server at once (callers
beyond that wait for one). A kept connection found closed, or that fails before the
message is accepted, is replaced and the message sent at once on a new one; that is
not counted as an attempt. A connection after any other failure is closed, not reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.policy import default as default_policy
from email.utils import format_datetime
from functools import lru_cache

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
    connections: int = 4
    # A kept connection idle this long is closed rather than reused (servers drop idle
    # sessions after a few minutes; RFC 5321 asks them to wait at least 5).
    idle_seconds: float = 60.0


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


class _KeptHeaders(HeaderRegistry):
    """The stdlib registry, with each header class made once and common headers parsed once.

    ``HeaderRegistry`` makes a new class (``type(...)``) for every header stored or
    parsed, then parses its value: most of the time it took to build a message. Here one
    class per registered kind (a bounded set) is kept, and the last ``PARSED`` headers by
    name and value (the sender, the parts' Content-Type and the like repeat in every
    message). Header objects are immutable, so sharing them changes no message's bytes.
    """

    PARSED = 256

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[type, type[BaseHeader]] = {}
        self._parsed = lru_cache(maxsize=self.PARSED)(super().__call__)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._made.get(kind)
        if made is None:
            made = self._made[kind] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value: str) -> BaseHeader:
        return self._parsed(name, value)

    def kept(self) -> tuple[int, int]:
        """How many header classes and parsed headers are kept now."""
        return len(self._made), self._parsed.cache_info().currsize


# email.policy.default but for the header classes (messages, their parts, their bytes alike).
HEADERS = _KeptHeaders()
MESSAGE_POLICY = default_policy.clone(header_factory=HEADERS)


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
    policy: EmailPolicy[EmailMessage] = MESSAGE_POLICY,
) -> EmailMessage:
    message = EmailMessage(policy=policy)
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


class _Pool:
    """Kept SMTP connections to one server, at most ``size`` in use or kept at once."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._slots = asyncio.Semaphore(settings.connections)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self.opened = 0

    async def take(self) -> tuple[aiosmtplib.SMTP, bool]:
        """A connection (with a slot held) and whether it was kept from an earlier send."""
        await self._slots.acquire()
        try:
            while self._idle:
                client, since = self._idle.pop()
                if client.is_connected and time.monotonic() - since < self.settings.idle_seconds:
                    return client, True
                _close(client)
            return await self.open(), False
        except BaseException:
            self._slots.release()
            raise

    async def open(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            start_tls=s.starttls,
            timeout=30,
        )
        await client.connect()
        self.opened += 1
        return client

    def give(self, client: aiosmtplib.SMTP, *, keep: bool) -> None:
        if keep and client.is_connected:
            self._idle.append((client, time.monotonic()))
        else:
            _close(client)
        self._slots.release()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
            _close(client)


def _close(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        client.close()


# The connection died under the message (before the server answered its DATA): a kept one
# may have been closed by the server while idle; a new connection is tried at once.
_GONE = (aiosmtplib.SMTPServerDisconnected, ConnectionError)


class Mailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._pool = _Pool(settings)

    @property
    def connections_opened(self) -> int:
        return self._pool.opened

    async def _send_once(self, message: EmailMessage) -> None:
        client, kept = await self._pool.take()
        while True:
            try:
                await client.send_message(message)
            except _GONE:
                self._pool.give(client, keep=False)
                if not kept:
                    raise
                client, kept = await self._pool.take()
                continue
            except BaseException:
                self._pool.give(client, keep=False)
                raise
            self._pool.give(client, keep=True)
            return

    async def close(self) -> None:
        """Quit the kept connections (at shutdown)."""
        await self._pool.close()

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

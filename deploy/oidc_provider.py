"""The sandbox identity provider (issue 20): the certified `oidc-provider` (Node, pinned in
deploy/oidc/package.json) with its own login and second-factor pages, for the tests and the demo.

This module writes its JSON configuration (accounts, clients, cookie keys), starts
``node deploy/oidc/provider.mjs CONFIG``, waits until the discovery document is served and
stops it. The demo accounts are review's demo staff (deploy/demo-staff.yaml: the ``sub`` is the
staff id, the same email and the same demo password ``demo-<id>-password``) plus an account
review does not know (``mallory``) and one whose email is not verified (``ursula``, claiming
tess's address). Carol (legal counsel) and Dave (director) have a second factor: a FIXED
one-time code from the configuration, a sandbox stand-in for TOTP; never use this provider
outside tests and the demo.

    python -m deploy.oidc_provider --port 9400 --client-secret S \\
        --redirect-uri http://127.0.0.1:8082/console/oidc/callback \\
        --post-logout-redirect-uri http://127.0.0.1:8082/console/login

needs ``npm ci --prefix deploy/oidc --no-audit --no-fund`` once (``make deps`` runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from deploy.stack import ChildProcess, StackError, ensure_token

REPO_ROOT = Path(__file__).resolve().parents[1]
PROVIDER_DIR = REPO_ROOT / "deploy" / "oidc"
PROVIDER_SCRIPT = PROVIDER_DIR / "provider.mjs"
DEMO_STAFF_FILE = REPO_ROOT / "deploy" / "demo-staff.yaml"

ACR_PWD = "urn:casework:acr:pwd"
ACR_MFA = "urn:casework:acr:mfa"
AMR_PWD = ["pwd"]
AMR_MFA = ["pwd", "otp"]
# The fixed one-time codes of the demo accounts with a second factor (sandbox only).
DEMO_OTP = {"carol": "246810", "dave": "135790"}
DEMO_CLIENT_ID = "review"
START_TIMEOUT = 30.0


class ProviderError(RuntimeError):
    """The provider could not be started (missing Node or packages, or it never answered)."""


@dataclass(frozen=True)
class OidcAccount:
    """A person at the provider; ``id`` is the ``sub``. ``otp`` set: has a second factor."""

    id: str
    email: str
    name: str
    password: str
    email_verified: bool = True
    otp: str | None = None


@dataclass(frozen=True)
class OidcClient:
    """A confidential client (client_secret_basic; client_secret_post also accepted)."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    token_endpoint_auth_method: str = "client_secret_basic"


@dataclass(frozen=True)
class ProviderConfig:
    port: int
    accounts: list[OidcAccount]
    clients: list[OidcClient]
    host: str = "127.0.0.1"
    cookie_keys: list[str] = field(default_factory=lambda: [secrets.token_urlsafe(32)])
    jwks_file: Path | None = None  # the signing key kept here (made on first start), else per run

    def __post_init__(self) -> None:
        ids = [account.id for account in self.accounts]
        if len(set(ids)) != len(ids):
            raise ValueError("accounts: each id must be unique")
        for client in self.clients:
            if not client.redirect_uris:
                raise ValueError(f"clients.{client.client_id}.redirect_uris: at least one")

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "host": self.host,
            "port": self.port,
            "cookie_keys": self.cookie_keys,
            "jwks_file": None if self.jwks_file is None else str(self.jwks_file),
            "accounts": [asdict(account) for account in self.accounts],
            "clients": [asdict(client) for client in self.clients],
        }


def demo_accounts(staff_file: Path = DEMO_STAFF_FILE) -> list[OidcAccount]:
    """Review's demo staff, plus one account review does not know and one unverified email."""
    staff = yaml.safe_load(staff_file.read_text(encoding="utf-8"))["staff"]
    accounts = [
        OidcAccount(
            id=member["id"],
            email=member["email"],
            name=member["name"],
            password=f"demo-{member['id']}-password",
            otp=DEMO_OTP.get(member["id"]),
        )
        for member in staff
    ]
    accounts.append(
        OidcAccount(
            "mallory", "mallory@elsewhere.test", "Mallory Outsider", "demo-mallory-password"
        )
    )
    accounts.append(
        OidcAccount(
            "ursula",
            "tess@officeactions.test",
            "Ursula Unverified",
            "demo-ursula-password",
            email_verified=False,
        )
    )
    return accounts


def demo_config(port: int, clients: list[OidcClient]) -> ProviderConfig:
    return ProviderConfig(port=port, accounts=demo_accounts(), clients=clients)


def node_command(config_path: Path) -> list[str]:
    """The command that runs the provider on a written configuration (for a supervisor)."""
    node = shutil.which("node")
    if node is None:
        raise ProviderError("node (20 or later) is not installed: see deploy/install-debian.sh")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise ProviderError(
            "oidc-provider is not installed: npm ci --prefix deploy/oidc --no-audit --no-fund"
        )
    return [node, str(PROVIDER_SCRIPT), str(config_path)]


def write_config(config: ProviderConfig, path: Path) -> Path:
    """The provider's configuration as JSON, readable by the owner only (it holds secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(config.to_json(), indent=2), encoding="utf-8")
    return path


def discovery_ready(issuer: str) -> bool:
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(json.load(response).get("issuer") == issuer)
    except (OSError, urllib.error.URLError, ValueError):
        return False


class OidcProvider:
    """The provider as a child process: ``start()`` returns once discovery is served."""

    def __init__(self, config: ProviderConfig, workdir: Path, log: IO[str] | None = None) -> None:
        self.config = config
        self.config_path = workdir / "oidc-provider.json"
        self.log_path = workdir / "oidc-provider.log"
        self._log = log
        self._own_log: IO[str] | None = None
        self._process: subprocess.Popen[str] | None = None

    @property
    def issuer(self) -> str:
        return self.config.issuer

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self, timeout: float = START_TIMEOUT) -> None:
        command = node_command(write_config(self.config, self.config_path))
        output = self._log
        if output is None:
            output = self._own_log = self.log_path.open("a", encoding="utf-8")
        self._process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, text=True, cwd=PROVIDER_DIR
        )
        deadline = time.monotonic() + timeout
        while not discovery_ready(self.issuer):
            if self._process.poll() is not None:
                raise ProviderError(f"oidc-provider exited: {self._tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ProviderError(f"oidc-provider not serving discovery after {timeout:.0f}s")
            time.sleep(0.1)  # wait-ok: the poll interval of a deadline wait

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._own_log is not None:
            self._own_log.close()
            self._own_log = None

    def _tail(self) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(encoding="utf-8")[-2000:]

    def __enter__(self) -> OidcProvider:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# `make run`'s demo identity provider (off by default; CASEWORK_DEMO_OIDC=1 starts it).
DEMO_FLAG = "CASEWORK_DEMO_OIDC"
DEMO_PORT = 8091
# Where review takes the provider's answer and where it lands after the provider's sign-out.
REVIEW_CALLBACK_PATH = "/console/oidc/callback"
REVIEW_AFTER_LOGOUT_PATH = "/console/login"


def demo_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    raw = environ.get(DEMO_FLAG, "0").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"", "0", "false", "no", "off"}:
        return False
    raise StackError(f"{DEMO_FLAG}: must be 1 or 0 (true/false), got {raw!r}")


def demo_port(environ: Mapping[str, str] = os.environ) -> int:
    raw = environ.get("OIDC_PORT", str(DEMO_PORT))
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise StackError(f"OIDC_PORT: must be a port number 1-65535, got {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class DemoProvider:
    """The provider as one of `make run`'s children, and the settings review gets for it."""

    process: ChildProcess
    issuer: str
    review_environment: dict[str, str]

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not discovery_ready(self.issuer):
            if not self.process.running:
                raise StackError(f"oidc exited during start-up:\n{self.process.log_tail()}")
            if time.monotonic() > deadline:
                raise StackError(f"oidc not serving discovery after {timeout:.0f} s")
            time.sleep(0.1)  # wait-ok: the poll interval of a deadline wait


def demo_provider(port: int, review_port: int, data_dir: Path, log_dir: Path) -> DemoProvider:
    """The demo provider for review on ``review_port``: its client secret, cookie key and
    signing key are made on first start under the data directory's keys and kept."""
    keys = data_dir / "keys"
    secret = ensure_token(keys / "oidc-review-client.secret").read_text(encoding="utf-8")
    review = f"http://127.0.0.1:{review_port}"
    client = OidcClient(
        DEMO_CLIENT_ID,
        secret,
        [review + REVIEW_CALLBACK_PATH],
        [review + REVIEW_AFTER_LOGOUT_PATH],
    )
    config = ProviderConfig(
        port=port,
        accounts=demo_accounts(),
        clients=[client],
        cookie_keys=[ensure_token(keys / "oidc-cookie.key").read_text(encoding="utf-8")],
        jwks_file=keys / "oidc-signing.jwks.json",
    )
    try:
        command = node_command(write_config(config, data_dir / "oidc" / "oidc-provider.json"))
    except ProviderError as exc:
        raise StackError(f"{DEMO_FLAG}=1: {exc}") from exc
    process = ChildProcess("oidc", command, dict(os.environ), log_dir / "oidc.log")
    environment = {
        "REVIEW_OIDC_ISSUER": config.issuer,
        "REVIEW_OIDC_CLIENT_ID": DEMO_CLIENT_ID,
        "REVIEW_OIDC_CLIENT_SECRET": secret,
    }
    return DemoProvider(process, config.issuer, environment)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--client-id", default=DEMO_CLIENT_ID)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", action="append", required=True)
    parser.add_argument("--post-logout-redirect-uri", action="append", default=[])
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    client = OidcClient(
        args.client_id, args.client_secret, args.redirect_uri, args.post_logout_redirect_uri
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="oidc-provider-") as workdir:
        provider = OidcProvider(demo_config(args.port, [client]), Path(workdir))
        try:
            provider.start()
        except ProviderError as exc:
            raise SystemExit(f"error: {exc}") from exc
        print(f"oidc-provider {provider.issuer} (client {args.client_id})", flush=True)
        try:
            stop.wait()
        finally:
            provider.stop()


if __name__ == "__main__":
    main()

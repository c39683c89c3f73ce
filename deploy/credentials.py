"""Kafka principals of the embedded stack: one SCRAM user per service plus ``ops``.

``make run`` and the tests need no set-up: on first use a random password per
principal is written to ``<secrets dir>/kafka-<principal>.password`` (mode 0600,
directory 0700) and read back on every later start. The directory is
``$CASEWORK_SECRETS_DIR`` if set, else ``var/secrets`` in the repository; the broker
(:class:`deploy.broker.TansuBroker`) and the service processes
(:class:`deploy.stack.ServiceProcess`) both read it, so each service signs in as
itself with its own password.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from casework.kafka import KafkaSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("intake", "review", "enforcement", "notify", "transparency", "monitor")
OPS = "ops"  # operators' tools (the monitor CLI) and the tests
PRINCIPALS = (*SERVICES, OPS)
SECURITY_PROTOCOL = "SASL_PLAINTEXT"  # the embedded broker listens on loopback only
SASL_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class BusCredentials:
    """The password files of every principal in one directory."""

    directory: Path

    @classmethod
    def default(cls) -> BusCredentials:
        configured = os.environ.get("CASEWORK_SECRETS_DIR")
        return cls(Path(configured) if configured else REPO_ROOT / "var" / "secrets")

    def password_file(self, principal: str) -> Path:
        return self.directory / f"kafka-{principal}.password"

    def ensure(self) -> dict[str, str]:
        """Every principal's password, generating (once) those that have no file yet."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return {principal: self._password(principal) for principal in PRINCIPALS}

    def _password(self, principal: str) -> str:
        path = self.password_file(principal)
        if not path.exists():
            # Written whole under a private name, then linked into place: two starts
            # racing agree on the first one's password and never read a partial file.
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.")
            try:
                with os.fdopen(fd, "w") as out:  # mkstemp: mode 0600
                    out.write(secrets.token_urlsafe(32) + "\n")
                with contextlib.suppress(FileExistsError):
                    os.link(temporary, path)
            finally:
                os.unlink(temporary)
        return path.read_text().strip()

    def service_environment(self, principal: str) -> dict[str, str]:
        """The variables that make a service sign in to the embedded broker as ``principal``."""
        self.ensure()
        return {
            "KAFKA_SECURITY_PROTOCOL": SECURITY_PROTOCOL,
            "KAFKA_SASL_MECHANISM": SASL_MECHANISM,
            "KAFKA_SASL_USERNAME": principal,
            "KAFKA_SASL_PASSWORD_FILE": str(self.password_file(principal)),
        }

    def settings(self, bootstrap: str, principal: str = OPS, **overrides: object) -> KafkaSettings:
        """Client settings signed in as ``principal`` on the embedded broker at ``bootstrap``."""
        options: dict[str, object] = {
            "security_protocol": SECURITY_PROTOCOL,
            "sasl_mechanism": SASL_MECHANISM,
            "sasl_username": principal,
            "sasl_password": self.ensure()[principal],
            **overrides,
        }
        return KafkaSettings(bootstrap, **options)  # type: ignore[arg-type]


def bus_settings(bootstrap: str, principal: str = OPS, **overrides: object) -> KafkaSettings:
    """:meth:`BusCredentials.settings` on the default secrets directory."""
    return BusCredentials.default().settings(bootstrap, principal, **overrides)


def main(argv: list[str] | None = None) -> int:
    """``python -m deploy.credentials [DIR]``: write any missing password file."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("directory", nargs="?", type=Path, help="default: the stack's")
    args = parser.parse_args(argv)
    credentials = BusCredentials(args.directory) if args.directory else BusCredentials.default()
    credentials.ensure()
    for principal in PRINCIPALS:
        print(f"{principal:12} {credentials.password_file(principal)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

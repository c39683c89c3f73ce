"""`make run`: the whole system on embedded defaults, in the foreground until Ctrl-C.

Starts the Tansu broker, the sandbox MediaWiki (installed on first run), the
SMTP sink (mail kept under var/mail) and the four services, each its own
process; prints every URL; stops every child on SIGINT/SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from deploy.broker import TansuBroker
from deploy.credentials import BusCredentials
from deploy.sandbox_wiki import DEMO_USERS, SandboxWiki
from deploy.stack import (
    REPO_ROOT,
    SERVICE_ORDER,
    ChildProcess,
    Ports,
    ServiceProcess,
    StackError,
    mail_sink_process,
    service_environment,
    wait_port,
)


def main() -> int:
    data_dir = Path(os.environ.get("CASEWORK_DATA_DIR", REPO_ROOT / "var")).resolve()
    logs = data_dir / "logs"
    ports = Ports.from_environment()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    # Clients sign in (SASL SCRAM): one user per service plus ops, passwords generated
    # on first start and kept under var/secrets (deploy/credentials.py).
    credentials = BusCredentials.default()
    broker = TansuBroker(ports.broker, users=credentials.ensure())
    wiki = SandboxWiki(data_dir / "wiki", ports.wiki)
    sink = mail_sink_process(ports.smtp, data_dir / "mail", logs)
    services: list[ServiceProcess] = []
    started: list[ChildProcess] = []
    try:
        print(f"broker    starting on 127.0.0.1:{ports.broker} (Tansu, memory storage)", flush=True)
        broker.start()
        print("wiki      installing the sandbox MediaWiki if needed…", flush=True)
        wiki.install()
        wiki.start()
        sink.start()
        started.append(sink)
        wait_port(ports.smtp, 15, sink)
        env = service_environment(ports, data_dir)
        for name in SERVICE_ORDER:
            service = ServiceProcess(name, ports.of(name), env, logs)
            service.start()
            services.append(service)
            started.append(service)
        for service in services:
            service.wait_healthy(90)
        _print_banner(ports, data_dir, wiki, credentials)
        while not stop.is_set():
            for child in started:
                if not child.running:
                    print(f"{child.name} exited; its log:\n{child.log_tail()}", file=sys.stderr)
                    stop.set()
            stop.wait(1.0)
        return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping…", flush=True)
        for child in reversed(started):
            child.stop()
        wiki.stop()
        broker.stop()
        print("stopped", flush=True)


def _print_banner(
    ports: Ports, data_dir: Path, wiki: SandboxWiki, credentials: BusCredentials
) -> None:
    users = ", ".join(u.name for u in DEMO_USERS)
    print(
        f"""
Office actions pipeline is up (Ctrl-C stops everything).

  intake       http://127.0.0.1:{ports.intake}   POST /api/v1/requests
  review       http://127.0.0.1:{ports.review}   /api/v1/cases (Bearer demo-<staff>-token)
  enforcement  http://127.0.0.1:{ports.enforcement}   /healthz /metrics
  notify       http://127.0.0.1:{ports.notify}   /healthz /metrics
  monitor      http://127.0.0.1:{ports.monitor}   ops dashboard; CLI: python -m services.monitor -h
  wiki         {wiki.url}/index.php   demo accounts: {users}
  broker       127.0.0.1:{ports.broker}   (Kafka protocol, Tansu; SASL SCRAM-SHA-512 sign-in)
               users intake review enforcement notify monitor ops, passwords in
               {credentials.directory}/kafka-<user>.password; the CLI as ops:
               KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_USERNAME=ops \\
               KAFKA_SASL_PASSWORD_FILE={credentials.password_file("ops")} \\
               python -m services.monitor lag
  smtp sink    127.0.0.1:{ports.smtp}   mail kept in {data_dir / "mail"}/new/
  logs         {data_dir / "logs"}/
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())

"""`make run`: the whole system on embedded defaults, in the foreground until Ctrl-C.

Starts the Tansu broker, the sandbox MediaWiki (installed on first run), the
SMTP sink (mail kept under var/mail) and the six services (the public portal,
transparency, among them), each its own process; prints every URL; then keeps
them running (deploy/supervisor.py: a child that exits is restarted after a
growing wait, with a line on the console) until SIGINT/SIGTERM, which stops
every child in reverse start order. With CASEWORK_DEMO_OIDC=1 it also starts the
sandbox identity provider (deploy/oidc_provider.py, port OIDC_PORT, 8091) before
the services and gives review its issuer, client id and secret.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

from deploy.broker import BrokerError, TansuBroker
from deploy.credentials import BusCredentials
from deploy.oidc_provider import (
    DEMO_OTP,
    DemoProvider,
    demo_enabled,
    demo_port,
    demo_provider,
)
from deploy.sandbox_wiki import DEMO_USERS, SandboxWiki, SandboxWikiError
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
from deploy.supervisor import Handle, Supervisor


def main() -> int:
    data_dir = Path(os.environ.get("CASEWORK_DATA_DIR", REPO_ROOT / "var")).resolve()
    logs = data_dir / "logs"
    ports = Ports.from_environment()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    # Clients sign in (SASL SCRAM): one user per service plus ops, passwords generated
    # on first start and kept under var/secrets (deploy/credentials.py). The broker keeps
    # them and seeds them again on every restart, on the same port.
    credentials = BusCredentials.default()
    broker = TansuBroker(ports.broker, users=credentials.ensure())
    # The pristine wiki is built under var/wiki, or once in $CASEWORK_WIKI_CACHE if set.
    cache = os.environ.get("CASEWORK_WIKI_CACHE")
    wiki = SandboxWiki(data_dir / "wiki", ports.wiki, cache_dir=Path(cache) if cache else None)
    sink = mail_sink_process(ports.smtp, data_dir / "mail", logs)
    services: list[ServiceProcess] = []
    started: list[Handle] = []  # in start order; stopped in reverse
    try:
        oidc = demo_provider(demo_port(), ports.review, data_dir, logs) if demo_enabled() else None
        print(f"broker    starting on 127.0.0.1:{ports.broker} (Tansu, memory storage)", flush=True)
        started.append(broker_handle(broker))
        broker.start()
        print("wiki      installing the sandbox MediaWiki if needed…", flush=True)
        wiki.install()
        started.append(wiki_handle(wiki))
        wiki.start()
        started.append(process_handle(sink))
        sink.start()
        wait_port(ports.smtp, 15, sink)
        _start_oidc(oidc, started)
        env = service_environment(ports, data_dir)
        for name in SERVICE_ORDER:
            own = oidc.review_environment if oidc is not None and name == "review" else {}
            service = ServiceProcess(name, ports.of(name), {**env, **own}, logs)
            started.append(process_handle(service))
            service.start()
            services.append(service)
        for service in services:
            service.wait_healthy(90)
        _print_banner(ports, data_dir, wiki, credentials)
        if oidc is not None:
            _print_oidc_banner(oidc, ports)
        Supervisor(started, stop).run()
        return 0
    except (StackError, BrokerError, SandboxWikiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping…", flush=True)
        for handle in reversed(started):
            handle.stop()
        print("stopped", flush=True)


def _start_oidc(oidc: DemoProvider | None, started: list[Handle]) -> None:
    """The demo identity provider, before review (which reads its discovery document)."""
    if oidc is None:
        return
    print(f"oidc      starting the demo identity provider on {oidc.issuer}", flush=True)
    started.append(process_handle(oidc.process))
    oidc.process.start()
    oidc.wait_ready()


def process_handle(child: ChildProcess) -> Handle:
    return Handle(child.name, child.start, child.stop, lambda: child.returncode, log=child.log_path)


def broker_handle(broker: TansuBroker) -> Handle:
    def exit_code() -> int | None:
        if broker.running:
            return None
        return broker.wait() if broker.pid is not None else -1

    def stop() -> None:
        leader = broker.pid
        broker.stop()
        if leader is not None:  # Tansu itself, had the gate in front of it died alone
            with contextlib.suppress(ProcessLookupError):
                os.killpg(leader, signal.SIGKILL)

    return Handle("broker", broker.start, stop, exit_code)


def wiki_handle(wiki: SandboxWiki) -> Handle:
    def exit_code() -> int | None:
        if wiki.running:
            return None
        process = wiki._process  # SandboxWiki does not publish its server's exit status
        return -1 if process is None else process.returncode

    return Handle("wiki", wiki.start, wiki.stop, exit_code, log=wiki.log_path)


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
  transparency http://127.0.0.1:{ports.transparency}/   public portal: actions, inquiries, reports
  wiki         {wiki.url}/index.php   demo accounts: {users}
  broker       127.0.0.1:{ports.broker}   (Kafka protocol, Tansu; SASL SCRAM-SHA-512 sign-in)
               users intake review enforcement notify transparency monitor ops, passwords in
               {credentials.directory}/kafka-<user>.password; the CLI as ops:
               KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_USERNAME=ops \\
               KAFKA_SASL_PASSWORD_FILE={credentials.password_file("ops")} \\
               python -m services.monitor lag
  smtp sink    127.0.0.1:{ports.smtp}   mail kept in {data_dir / "mail"}/new/
  logs         {data_dir / "logs"}/
""",
        flush=True,
    )


def _print_oidc_banner(oidc: DemoProvider, ports: Ports) -> None:
    codes = ", ".join(f"{who} {code}" for who, code in DEMO_OTP.items())
    print(
        f"""  oidc         {oidc.issuer}   demo identity provider (CASEWORK_DEMO_OIDC=1): review's
               console offers "Sign in with your organisation" at
               http://127.0.0.1:{ports.review}/console/login; accounts are the demo staff
               (<id> or <id>@officeactions.test, password demo-<id>-password), one-time codes
               {codes}; mallory is unknown to review
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())

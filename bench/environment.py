"""The parts a benchmark runs on: a fresh Tansu broker, service processes, a sandbox wiki
and a mail sink, started exactly as `make run` starts them (deploy/stack.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaConsumer

from deploy.broker import TansuBroker
from deploy.credentials import bus_settings
from deploy.mailsink import MailSink
from deploy.sandbox_wiki import SandboxWiki
from deploy.stack import REPO_ROOT, Ports, ServiceProcess, service_environment
from tests.support import free_port, free_ports

QUIET = {"CASEWORK_LOG_LEVEL": "WARNING", "KAFKA_SESSION_TIMEOUT_MS": "2000"}
POLICY = REPO_ROOT / "policy" / "office-actions.yaml"


def watcher(bootstrap: str, topic: str, purpose: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer of ``topic`` from its start in a group of its own (``bench-<purpose>-…``),
    that the benchmark reads events from; not started."""
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"bench-{purpose}-{uuid.uuid4().hex[:6]}",
        session_timeout_ms=2000,
        heartbeat_interval_ms=600,
        **options,
        **bus_settings(bootstrap).client_options(),
    )


def bench_policy(root: Path) -> Path:
    """The default policy with intake's per-client limit raised: the load generator is one
    client address sending thousands of submissions, as an operator's exempted tool would."""
    raw = yaml.safe_load(POLICY.read_text(encoding="utf-8"))
    raw["intake"]["rate_limits"]["per_client"] = {"max": 10_000_000, "per_seconds": 3600}
    path = root / "bench-policy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


WIKI_CACHE = Path(tempfile.gettempdir()) / "casework-wiki-cache"


@dataclass
class Bench:
    root: Path
    ports: Ports
    broker: TansuBroker
    policy: Path
    processes: list[ServiceProcess] = field(default_factory=list)
    wiki: SandboxWiki | None = None
    mail: MailSink | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports.broker}"

    def start_service(
        self, name: str, *, instance: str = "", extra: dict[str, str] | None = None
    ) -> ServiceProcess:
        port = free_port() if instance else self.ports.of(name)
        settings = {**QUIET, "CASEWORK_POLICY_FILE": str(self.policy), **(extra or {})}
        env = service_environment(self.ports, self.root / "data", settings)
        env[f"{name.upper()}_PORT"] = str(port)
        process = ServiceProcess(name, port, env, self.root / "logs" / (instance or name))
        process.start()
        self.processes.append(process)
        process.wait_healthy(60)
        return process


@contextmanager
def bench_environment(*, wiki: bool = False) -> Iterator[Bench]:
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="casework-bench-")))
        wiki_port = free_port()
        ports = free_ports(wiki=wiki_port)
        broker = TansuBroker(ports.broker)
        broker.start()
        stack.callback(broker.stop)
        bench = Bench(root, ports, broker, bench_policy(root))
        if wiki:
            bench.wiki = SandboxWiki(root / "wiki", wiki_port, cache_dir=WIKI_CACHE)
            stack.enter_context(bench.wiki)
            bench.mail = MailSink(root / "mail", ports.smtp)
            bench.mail.start()
            stack.callback(bench.mail.stop)
        try:
            yield bench
        finally:
            for process in reversed(bench.processes):
                process.stop()


def run_loadgen(*args: str, timeout: float = 300.0) -> dict[str, Any]:
    """The load generator in its own process; its one JSON line back."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result

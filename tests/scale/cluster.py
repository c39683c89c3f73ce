"""N processes per service over one Tansu broker, a two-wiki farm and an SMTP sink.

Instances of one service share its store (the same ``CASEWORK_DATA_DIR``, so one SQLite file
per service, or the same ``MONGODB_URI``) and its consumer group; each has its own port,
log file and ``CASEWORK_INSTANCE_ID``.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.environment import bench_policy
from casework.config import ServiceSettings
from casework.leases import LEASES
from casework.signing import ensure_key_pair
from casework.store import open_store
from deploy.broker import TansuBroker
from deploy.mailsink import MailSink
from deploy.sandbox_wiki import SandboxWiki
from deploy.stack import Ports, ServiceProcess, service_environment
from tests.fixtures.broker import sigkill_and_restart
from tests.support import free_port, free_ports

CREATE_USERS = Path(__file__).with_name("create_users.php")
SCALE_SETTINGS = {
    "KAFKA_SESSION_TIMEOUT_MS": "2000",
    "ENFORCEMENT_RETRY_SECONDS": "2",
    "CASEWORK_LEASE_SECONDS": "3",
    "CASEWORK_LOG_LEVEL": "INFO",
}


@dataclass
class Cluster:
    root: Path
    ports: Ports
    broker: TansuBroker
    farm: dict[str, SandboxWiki]
    mail: MailSink
    extra_env: dict[str, str] = field(default_factory=dict)
    instances: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    killed: list[ServiceProcess] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports.broker}"

    @property
    def statement_wiki(self) -> SandboxWiki:
        """The wiki whose public log page notify appends to (the farm's first)."""
        return next(iter(self.farm.values()))

    def environment(self, service: str, instance: str, port: int) -> dict[str, str]:
        farm = ",".join(f"{wiki_id}={wiki.api_url}" for wiki_id, wiki in self.farm.items())
        env = service_environment(
            self.ports,
            self.root / "data",
            {
                **SCALE_SETTINGS,
                "CASEWORK_POLICY_FILE": str(bench_policy(self.root)),
                "WIKI_FARM": farm,
                "STATEMENT_WIKI_API": self.statement_wiki.api_url,
                "CASEWORK_INSTANCE_ID": instance,
                **self.extra_env,
            },
        )
        env[f"{service.upper()}_PORT"] = str(port)
        return env

    def start(self, service: str, count: int) -> list[ServiceProcess]:
        """Start ``count`` more instances of ``service``, each healthy before the next starts.

        One after another: two processes opening a fresh SQLite store at the same moment
        can fail at ``PRAGMA journal_mode = WAL`` ("database is locked"), a start-up race
        of casework/store/sqlite.py that is not what these runs are about."""
        started = []
        running = self.instances.setdefault(service, [])
        for _ in range(count):
            instance = f"{service}-{len(running) + 1}"
            port = free_port()
            process = ServiceProcess(
                service, port, self.environment(service, instance, port), self.root / "logs"
            )
            process.name = instance
            process.log_path = self.root / "logs" / f"{instance}.log"
            process.start()
            running.append(process)
            started.append(process)
            process.wait_healthy(90)
        return started

    def start_each(self, services: list[str], count: int) -> None:
        """``count`` instances of each of ``services``: one of each at a time, started
        together (their stores are different files), each round healthy before the next.

        The shared secrets are made first, one after another: review's demo signing key
        pair and the ledger tokens are created on first use, and two processes (or
        threads) creating one at once would each write their own."""
        ensure_key_pair(self.root / "data" / "keys")
        for service in services:
            self.environment(service, f"{service}-0", 0)  # writes the ledger tokens
        for _ in range(count):
            with ThreadPoolExecutor(len(services)) as pool:
                for started in [pool.submit(self.start, service, 1) for service in services]:
                    started.result()

    def revive(self, process: ServiceProcess) -> None:
        """Start a killed instance again, on its port, with its name and store."""
        process.start()
        process.wait_healthy(90)
        self.killed.remove(process)

    def restart_broker(self) -> None:
        """SIGKILL the broker and start it again on its port: empty (memory storage)."""
        sigkill_and_restart(self.broker)

    def live(self, service: str) -> list[ServiceProcess]:
        return [p for p in self.instances.get(service, []) if p not in self.killed]

    def kill(self, process: ServiceProcess) -> None:
        """SIGKILL one instance: no clean-up, no leave-group, offsets as they were."""
        process.kill()
        self.killed.append(process)

    def store_url(self, service: str) -> str:
        """The store the instances of ``service`` share, by the services' own rule."""
        settings_class = type(f"{service}StoreOf", (ServiceSettings,), {"SERVICE": service})
        settings = settings_class(
            data_dir=self.root / "data", mongodb_uri=self.extra_env.get("MONGODB_URI")
        )
        url: str = settings.store_url
        return url

    async def leases(self, service: str) -> dict[str, str]:
        """Each once-only duty of ``service`` whose lease is held now, and its holder."""
        store = await open_store(self.store_url(service))
        try:
            docs = await store.find(LEASES)
        finally:
            await store.close()
        now = time.time()
        return {
            str(d["_id"]): str(d["holder"]) for d in docs if float(d.get("expires_at", 0)) > now
        }

    def create_accounts(self, accounts: list[str]) -> None:
        """Register ``accounts`` on every farm wiki in one maintenance run per wiki."""
        for wiki in self.farm.values():
            env = dict(
                os.environ,
                MW_CONFIG_FILE=str(wiki.settings_path),
                MW_INSTALL_PATH=str(wiki.mediawiki_dir),
            )
            done = subprocess.run(
                ["php", str(CREATE_USERS)],
                input="\n".join(accounts) + "\n",
                env=env,
                cwd=wiki.root,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0 or "created" not in done.stdout:
                raise RuntimeError(f"creating accounts failed: {done.stdout}{done.stderr}"[-2000:])

    def stop(self) -> None:
        for processes in self.instances.values():
            for process in processes:
                process.stop()


def metric(url: str, name: str) -> float:
    """One unlabelled sample from a service's /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{url}/metrics: no {name}")


@contextmanager
def running_cluster(
    farm: dict[str, SandboxWiki], root: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Cluster]:
    """A fresh broker and mail sink around ``farm`` (already reset); no services yet."""
    with ExitStack() as stack:
        root.mkdir(parents=True, exist_ok=True)
        statement_wiki = next(iter(farm.values()))
        ports = free_ports(wiki=statement_wiki.port)
        broker = TansuBroker(ports.broker)
        broker.start()
        stack.callback(broker.stop)
        mail = MailSink(root / "mail", ports.smtp)
        mail.start()
        stack.callback(mail.stop)
        cluster = Cluster(root, ports, broker, farm, mail, dict(extra_env or {}))
        stack.callback(cluster.stop)
        yield cluster

"""The compose file read as Units (with the image's environment under each), and its checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from casework.topics import TopicSettings
from tests.manifests.dockerfile import (
    DEPLOY,
    DOCKERFILE,
    dockerfile_instructions,
    image_env,
    image_paths,
)
from tests.manifests.needs import NOT_SERVICE_VARIABLES, SETTINGS, TOPICS_MODULE, read_by
from tests.manifests.units import (
    Unit,
    check_env,
    check_file_paths,
    check_modules,
    check_mongodb,
    check_ports,
    check_probes,
    check_replicas,
    replica_set_hosts,
)

COMPOSE_FILE = DEPLOY / "compose" / "docker-compose.yml"


def interpolate(value: Any) -> str | None:
    """A compose value: ${X:-d} gives d, ${X:?…} and ${X} are the operator's (None)."""
    text = str(value)
    whole = re.fullmatch(r"\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}", text)
    if whole is None:
        return text
    return whole.group(2) if whole.group(2) is not None else None


def compose_units(doc: dict[str, Any], base_env: dict[str, str | None]) -> dict[str, Unit]:
    units = {}
    for name, svc in doc["services"].items():
        command = svc.get("command")
        if not isinstance(command, list) or not command:
            continue
        module = command[0]
        if not (module.startswith("services.") or module == TOPICS_MODULE):
            continue
        env_raw = svc.get("environment") or {}
        if isinstance(env_raw, list):
            env_raw = dict(item.partition("=")[::2] for item in env_raw)
        env = dict(base_env) | {k: interpolate(v) for k, v in env_raw.items()}
        ports = {int(p) for p in svc.get("expose", [])}
        for mapping in svc.get("ports", []):
            ports.add(int(str(mapping).rsplit(":", 1)[-1].split("/")[0]))
        probes = []
        health = svc.get("healthcheck", {}).get("test", [])
        for url in re.findall(r"https?://[^'\" ]+", " ".join(map(str, health))):
            parts = urlsplit(url)
            probes.append((parts.path, parts.port))
        mounts = {f"/run/secrets/{s}" for s in svc.get("secrets", [])}
        mounts |= {str(v).split(":")[1] for v in svc.get("volumes", []) if ":" in str(v)}
        units[name] = Unit(
            name=name,
            module=command,
            replicas=int(svc.get("deploy", {}).get("replicas", 1)),
            env=env,
            ports=ports,
            probes=probes,
            mounts=mounts,
        )
    return units


@dataclass
class Compose:
    doc: dict[str, Any]
    text: str
    image_env: dict[str, str | None]
    image_paths: set[str]

    def units(self) -> dict[str, Unit]:
        return compose_units(self.doc, self.image_env)


def compose_env(c: Compose) -> list[str]:
    return check_env(c.units(), {})


def compose_ports(c: Compose) -> list[str]:
    return check_ports(c.units())


def compose_probes(c: Compose) -> list[str]:
    return check_probes(c.units(), kinds_needed=1)


def compose_replicas(c: Compose) -> list[str]:
    return check_replicas(c.units())


def compose_modules(c: Compose) -> list[str]:
    return check_modules(c.units())


def compose_file_paths(c: Compose) -> list[str]:
    return check_file_paths(c.units(), c.image_paths)


def compose_topics(c: Compose) -> list[str]:
    problems = []
    units = c.units()
    jobs = [u for u in units.values() if u.module == [TOPICS_MODULE]]
    if not jobs:
        return [f"no one-shot service runs {TOPICS_MODULE}"]
    job = jobs[0]
    if c.doc["services"][job.name].get("restart") != "no":
        problems.append(f"{job.name}: a one-shot must not restart")
    for name in SETTINGS:
        depends = c.doc["services"].get(name, {}).get("depends_on", {})
        condition = (
            depends.get(job.name, {}).get("condition") if isinstance(depends, dict) else None
        )
        if condition != "service_completed_successfully":
            problems.append(f"{name}: does not wait for {job.name} to complete")
    for var in job.env:
        if var not in read_by(TopicSettings) | NOT_SERVICE_VARIABLES:
            problems.append(f"{job.name}: {var} is set but {TOPICS_MODULE} does not read it")
    for var in ("KAFKA_TOPIC_PARTITIONS", "KAFKA_REPLICATION_FACTOR", "KAFKA_BOOTSTRAP_SERVERS"):
        values = {
            u.name: u.env.get(var) for u in [job, *(units[n] for n in SETTINGS if n in units)]
        }
        if len(set(values.values())) != 1 or None in values.values():
            problems.append(f"{var} differs between the topics job and the services: {values}")
        declared = re.findall(rf"^\s*{var}:", c.text, flags=re.MULTILINE)
        if len(declared) != 1:
            problems.append(f"{var} is written {len(declared)} times in the file, want once")
    return problems


def compose_kafka(c: Compose) -> list[str]:
    problems = []
    brokers = {
        name: svc
        for name, svc in c.doc["services"].items()
        if str(svc.get("image", "")).startswith("apache/kafka")
    }
    unit = next(iter(c.units().values()))
    for host in str(unit.env.get("KAFKA_BOOTSTRAP_SERVERS")).split(","):
        if host.partition(":")[0] not in brokers:
            problems.append(f"bootstrap server {host} is not a broker of this file")
    replication = int(str(unit.env.get("KAFKA_REPLICATION_FACTOR")))
    if replication > len(brokers):
        problems.append(f"replication factor {replication} > {len(brokers)} brokers")
    for name, svc in brokers.items():
        env = svc.get("environment", {})
        if "controller" not in str(env.get("KAFKA_PROCESS_ROLES", "")):
            problems.append(f"{name}: not a KRaft controller")
        if int(env.get("KAFKA_MIN_INSYNC_REPLICAS", 1)) >= replication > 1:
            problems.append(f"{name}: min.insync.replicas leaves no broker to lose")
    return problems


def compose_mongodb(c: Compose) -> list[str]:
    units = c.units()
    problems = check_mongodb(units, lambda u: u.env.get("MONGODB_URI"))
    hosts, replica_set = replica_set_hosts(units["review"].env.get("MONGODB_URI"))
    init = c.doc["services"].get("mongo-init", {})
    script = " ".join(map(str, init.get("command", [])))
    if f'_id: "{replica_set}"' not in script or "rs.initiate" not in script:
        problems.append(f"mongo-init does not initiate replica set {replica_set}")
    for host in hosts:
        if host.partition(":")[0] not in c.doc["services"] or host not in script:
            problems.append(f"replica set member {host} is not a service initiated here")
    return problems


def compose_signing_keys(c: Compose) -> list[str]:
    """Review's private key is a secret of review alone; every service acting on review's
    decisions is given review's public keys."""
    problems = []
    for name, svc in c.doc["services"].items():
        secrets = set(svc.get("secrets", []))
        if ("review-signing.pem" in secrets) != (name == "review"):
            problems.append(f"{name}: review's signing key must be review's secret alone")
        if name in ("review", "enforcement", "notify", "monitor"):
            if "review-public.pem" not in secrets:
                problems.append(f"{name}: is not given review's public keys")
    return problems


COMPOSE_CHECKS = [
    compose_signing_keys,
    compose_env,
    compose_ports,
    compose_probes,
    compose_replicas,
    compose_modules,
    compose_file_paths,
    compose_topics,
    compose_kafka,
    compose_mongodb,
]


def load_compose() -> Compose:
    docker = DOCKERFILE.read_text(encoding="utf-8")
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    return Compose(
        doc=yaml.safe_load(text),
        text=text,
        image_env=image_env(dockerfile_instructions(docker)),
        image_paths=image_paths(docker),
    )

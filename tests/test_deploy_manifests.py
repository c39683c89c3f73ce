"""The deployment artefacts checked against the code they deploy.

These machines have no container engine and no cluster, so the Dockerfile, the compose
file and the Kubernetes manifests are never run here. Instead each file is parsed and
compared, at test time, with what the services read: the environment variables of their
settings classes (so a renamed or new variable shows up here at once), the ports they
listen on, the routes their HTTP app serves, the topics command. Every check returns the
problems it finds; each is shown to fail on a mutated copy of the parsed files.
"""

from __future__ import annotations

import copy
import fnmatch
import importlib
import importlib.util
import inspect
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic.fields import FieldInfo

from casework import runtime
from casework.config import REPO_ROOT, ServiceSettings
from casework.http import make_app
from casework.topics import TopicSettings
from services.enforcement.settings import EnforcementSettings
from services.intake.settings import IntakeSettings
from services.monitor.settings import MonitorSettings
from services.notify.settings import NotifySettings
from services.review.settings import ReviewSettings
from tests.support import missing_part

DEPLOY = REPO_ROOT / "deploy"
DOCKERFILE = DEPLOY / "container" / "Dockerfile"
COMPOSE_FILE = DEPLOY / "compose" / "docker-compose.yml"
K8S = DEPLOY / "k8s"
POLICY_FILE = REPO_ROOT / "policy" / "office-actions.yaml"

SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "review": ReviewSettings,
    "enforcement": EnforcementSettings,
    "notify": NotifySettings,
    "monitor": MonitorSettings,
}
REPLICAS = {"intake": 2, "review": 2, "enforcement": 2, "notify": 2, "monitor": 1}
TOPICS_MODULE = "casework.topics"

# Variables a casework process reads outside its settings class, each with where.
OUTSIDE_SETTINGS = {"CASEWORK_LOG_LEVEL": runtime.configure_logging}
# Variables for Python and pip themselves, not for the services.
NOT_SERVICE_VARIABLES = {
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}

# Reconciliation (casework.reconcile): the upstream serves its ledger to the token of the
# pair, the downstream reads it; unset, nothing is reconciled.
LEDGER = {"CASEWORK_LEDGER_TOKEN_FILE": "the downstream reconciles from this ledger"}
UPSTREAM = {
    "CASEWORK_UPSTREAM_URL": "reconciles from the upstream's ledger",
    "CASEWORK_UPSTREAM_TOKEN_FILE": "the token of the pair",
}
# What production needs beyond what the settings' defaults make necessary (see needed()).
PRODUCTION: dict[str, dict[str, str]] = {
    "*": {
        "MONGODB_URI": "replicas share one store (the default is a SQLite file per process)",
        "KAFKA_TOPIC_PARTITIONS": "production partition count, from one place",
        "KAFKA_REPLICATION_FACTOR": "production replication, from one place",
    },
    "intake": {
        "INTAKE_FORM_SECRET": "both replicas must check each other's CSRF tokens",
        **LEDGER,
    },
    "review": {**LEDGER, **UPSTREAM},
    "enforcement": {
        "WIKI_USERNAME": "the default is the sandbox role account",
        **LEDGER,
        **UPSTREAM,
    },
    "notify": {
        "WIKI_USERNAME": "the default is the sandbox role account",
        **UPSTREAM,
        "CASEWORK_REVIEW_LEDGER_URL": "reconciles review's approvals",
        "CASEWORK_REVIEW_LEDGER_TOKEN_FILE": "the token of the review-notify pair",
    },
}
K8S_PRODUCTION = {"CASEWORK_INSTANCE_ID": "names the pod in leases (fieldRef metadata.name)"}

LOOPBACK = re.compile(r"127\.0\.0\.1|localhost")
# Settings fields that are sockets the service listens on.
LISTENERS: dict[str, tuple[str, ...]] = {"intake": ("port", "mail_port", "lmtp_port")}


# --- what the code reads ---------------------------------------------------------------------


def variables(cls: type[ServiceSettings]) -> dict[str, FieldInfo]:
    """Environment variable → field, for every field of a settings class."""
    found: dict[str, FieldInfo] = {}
    for name, info in cls.model_fields.items():
        alias = info.validation_alias
        found[alias if isinstance(alias, str) else name.upper()] = info
    return found


def read_by(cls: type[ServiceSettings]) -> set[str]:
    outside = {var for var, reader in OUTSIDE_SETTINGS.items() if var in inspect.getsource(reader)}
    return set(variables(cls)) | outside


def needed(cls: type[ServiceSettings], service: str) -> dict[str, str]:
    """Variables that must be set in production for ``service``, each with the reason."""
    reasons: dict[str, str] = {}
    for var, info in variables(cls).items():
        if info.is_required():
            reasons[var] = "it has no default"
            continue
        default = info.get_default(call_default_factory=True)
        if isinstance(default, str) and LOOPBACK.search(default):
            reasons[var] = f"its default {default!r} is this host, not a container's peer"
        elif isinstance(default, Path) and default.is_relative_to(REPO_ROOT):
            reasons[var] = "its default lies in the source tree, not in an installed image"
        elif info.repr is False and default:
            reasons[var] = "its default is a demo secret"
    reasons.update(PRODUCTION["*"])
    reasons.update(PRODUCTION.get(service, {}))
    return reasons


def loopback_defaults(cls: type[ServiceSettings]) -> set[str]:
    return {
        var
        for var, info in variables(cls).items()
        if LOOPBACK.search(str(info.get_default(call_default_factory=True)))
    }


def listeners(service: str) -> tuple[str, ...]:
    return LISTENERS.get(service, ("port",))


def get_routes() -> set[str]:
    """GET routes of the app every service builds with casework.http.make_app."""
    app = make_app(registry=CollectorRegistry(), health_checks={})
    return {
        route.resource.canonical
        for route in app.router.routes()
        if route.method == "GET" and route.resource is not None
    }


# --- a deployment, seen the same way from compose and from Kubernetes ------------------------


@dataclass
class Unit:
    """One casework process as a deployment file describes it."""

    name: str
    module: list[str]
    replicas: int
    env: dict[str, str | None]  # None: given by the operator (a secret, a .env value)
    ports: set[int] = field(default_factory=set)  # container ports other processes reach
    probes: list[tuple[str, int | None]] = field(default_factory=list)
    mounts: set[str] = field(default_factory=set)


def literal_port(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def effective(unit: Unit, var: str, cls: type[ServiceSettings]) -> Any:
    if var in unit.env:
        return unit.env[var]
    return variables(cls)[var].get_default(call_default_factory=True)


def listener_ports(unit: Unit, cls: type[ServiceSettings]) -> dict[str, int | None]:
    fields = {info.validation_alias: name for name, info in cls.model_fields.items()}
    out: dict[str, int | None] = {}
    for var, name in fields.items():
        if name in listeners(unit.name) and isinstance(var, str):
            value = effective(unit, var, cls)
            if value is not None:
                out[var] = literal_port(str(value))
    return out


def http_port(unit: Unit, cls: type[ServiceSettings]) -> int | None:
    var = cls.model_fields["port"].validation_alias
    assert isinstance(var, str)
    return literal_port(str(effective(unit, var, cls)))


# --- reading the files -----------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    return instructions[starts[-1] :]


def image_env(instructions: list[tuple[str, str]]) -> dict[str, str | None]:
    env: dict[str, str | None] = {}
    for word, args in final_stage(instructions):
        if word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", args):
                env[key] = value
    return env


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


K8sDocs = dict[str, list[dict[str, Any]]]


def k8s_objects(docs: K8sDocs, kind: str) -> list[dict[str, Any]]:
    return [d for file_docs in docs.values() for d in file_docs if d.get("kind") == kind]


def config_maps(docs: K8sDocs) -> dict[str, dict[str, str]]:
    found = {d["metadata"]["name"]: d.get("data", {}) for d in k8s_objects(docs, "ConfigMap")}
    for generator in docs["kustomization.yaml"][0].get("configMapGenerator", []):
        keys = [f.partition("=")[0] for f in generator.get("files", [])]
        found[generator["name"]] = dict.fromkeys(keys, "(file)")
    return found


def secrets(docs: K8sDocs) -> dict[str, dict[str, str]]:
    return {
        d["metadata"]["name"]: {**d.get("stringData", {}), **d.get("data", {})}
        for d in docs["secrets.example.yaml"]
        if d.get("kind") == "Secret"
    }


def pod_units(docs: K8sDocs, kind: str) -> dict[str, tuple[Unit, dict[str, Any]]]:
    """Each Deployment's (or Job's) first container as a Unit, with its pod template."""
    maps, secs = config_maps(docs), secrets(docs)
    units = {}
    for obj in k8s_objects(docs, kind):
        pod = obj["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env: dict[str, str | None] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                env.update(maps.get(source["configMapRef"]["name"], {}))
            if "secretRef" in source:
                env.update(dict.fromkeys(secs.get(source["secretRef"]["name"], {})))
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = str(item["value"])
            else:
                ref = item.get("valueFrom", {}).get("configMapKeyRef")
                env[item["name"]] = maps.get(ref["name"], {}).get(ref["key"]) if ref else None
        named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        probes = []
        for kind_ in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = container.get(kind_, {}).get("httpGet")
            if get is not None:
                port = get.get("port")
                probes.append((get.get("path", ""), named.get(port, port)))
        unit = Unit(
            name=obj["metadata"]["name"],
            module=list(container.get("args", [])),
            replicas=int(obj["spec"].get("replicas", 1)),
            env=env,
            ports=set(named.values()),
            probes=probes,
            mounts={m["mountPath"] for m in container.get("volumeMounts", [])},
        )
        units[unit.name] = (unit, obj)
    return units


# --- checks: each returns the problems it finds ----------------------------------------------


def check_env(units: dict[str, Unit], extra_needed: dict[str, str]) -> list[str]:
    problems = []
    for name, cls in SETTINGS.items():
        unit = units.get(name)
        if unit is None:
            problems.append(f"{name}: not deployed")
            continue
        for var, why in (needed(cls, name) | extra_needed).items():
            if var not in unit.env:
                problems.append(f"{name}: {var} is not set ({why})")
        known = read_by(cls) | NOT_SERVICE_VARIABLES
        for var in unit.env:
            if var not in known:
                problems.append(f"{name}: {var} is set but {name} does not read it")
        for var, value in unit.env.items():
            if var in loopback_defaults(cls) and value is not None and LOOPBACK.search(value):
                problems.append(f"{name}: {var}={value!r} points at the container itself")
    return problems


def check_ports(units: dict[str, Unit]) -> list[str]:
    problems = []
    for name, cls in SETTINGS.items():
        unit = units.get(name)
        if unit is None:
            continue
        for var, port in listener_ports(unit, cls).items():
            if port is None:
                problems.append(f"{name}: {var} must be a literal port to be checked")
            elif port not in unit.ports:
                problems.append(f"{name}: listens on {port} ({var}) but does not expose it")
    return problems


def check_probes(units: dict[str, Unit], *, kinds_needed: int) -> list[str]:
    problems = []
    routes = get_routes()
    for name, cls in SETTINGS.items():
        unit = units.get(name)
        if unit is None:
            continue
        source = inspect.getsource(importlib.import_module(f"services.{name}.app"))
        if "make_app(" not in source:
            problems.append(f"{name}: its app is not built by casework.http.make_app")
        if len(unit.probes) < kinds_needed:
            problems.append(f"{name}: {len(unit.probes)} health probes, want {kinds_needed}")
        for path, port in unit.probes:
            if path not in routes:
                problems.append(f"{name}: probe path {path!r} is not a GET route")
            if port != http_port(unit, cls):
                problems.append(f"{name}: probe port {port} is not its HTTP port")
    return problems


def check_replicas(units: dict[str, Unit]) -> list[str]:
    return [
        f"{name}: {units[name].replicas} replicas, want {want}"
        for name, want in REPLICAS.items()
        if name in units and units[name].replicas != want
    ]


def check_modules(units: dict[str, Unit]) -> list[str]:
    problems = []
    for name in SETTINGS:
        if name in units and units[name].module != [f"services.{name}"]:
            problems.append(f"{name}: runs {units[name].module}, want services.{name}")
    for unit in units.values():
        if unit.module and importlib.util.find_spec(unit.module[0]) is None:
            problems.append(f"{unit.name}: module {unit.module[0]} does not exist")
    return problems


def replica_set_hosts(uri: str | None) -> tuple[list[str], str | None]:
    if uri is None or not uri.startswith("mongodb://"):
        return [], None
    parts = urlsplit(uri)
    hosts = parts.netloc.rpartition("@")[2].split(",")
    return hosts, parse_qs(parts.query).get("replicaSet", [None])[0]


def check_mongodb(units: dict[str, Unit], uri_of: Callable[[Unit], str | None]) -> list[str]:
    problems = []
    for name in SETTINGS:
        if name not in units:
            continue
        hosts, replica_set = replica_set_hosts(uri_of(units[name]))
        if len(hosts) < 3 or not replica_set:
            problems.append(f"{name}: MONGODB_URI is not a three-member replica set URI")
    return problems


def check_file_paths(units: dict[str, Unit], provided: set[str]) -> list[str]:
    """Every path-valued setting points into a mount (or into the image)."""
    problems = []
    for name, cls in SETTINGS.items():
        unit = units.get(name)
        if unit is None:
            continue
        for var, info in variables(cls).items():
            value = unit.env.get(var)
            if value is None or "Path" not in str(info.annotation):
                continue
            roots = unit.mounts | provided
            if not any(value == r or value.startswith(r.rstrip("/") + "/") for r in roots):
                problems.append(f"{name}: {var}={value} is in no mounted volume")
    return problems


def dockerfile_problems(text: str) -> list[str]:
    problems = []
    steps = dockerfile_instructions(text)
    final = final_stage(steps)
    if final[0][1].split()[0] != "python:3.11-slim":
        problems.append(f"final stage is FROM {final[0][1]}, want python:3.11-slim")
    users = [args for word, args in final if word == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the image does not switch to a non-root USER")
    copied = " ".join(args for word, args in steps if word == "COPY")
    if "pyproject.toml" not in copied:
        problems.append("pyproject.toml is not copied into the build")
    pip = [
        args for word, args in steps if word == "RUN" and re.search(r"\bpip (install|wheel)", args)
    ]
    if not any(re.search(r"\s\.(\s|$)", args) for args in pip):
        problems.append("no pip step installs the project from its pyproject (.)")
    if any("[dev]" in args or "dev]" in args for args in pip):
        problems.append("a pip step installs the dev extras")
    entry = [args for word, args in final if word == "ENTRYPOINT"]
    if not entry or yaml.safe_load(entry[-1]) != ["python", "-m"]:
        problems.append('ENTRYPOINT is not ["python", "-m"]')
    cmd = [args for word, args in final if word == "CMD"]
    module = yaml.safe_load(cmd[-1])[0] if cmd else None
    if module is None or importlib.util.find_spec(module) is None:
        problems.append(f"CMD names no existing module ({module})")
    return problems


def image_paths(text: str) -> set[str]:
    """Directories the final image creates or copies to (where settings may point)."""
    final = final_stage(dockerfile_instructions(text))
    paths: set[str] = set()
    for word, args in final:
        if word == "COPY" and not args.startswith("--from"):
            paths.add(args.split()[-1])
        elif word == "RUN" and "mkdir" in args:
            paths |= set(re.findall(r"mkdir -p ((?:/\S+\s?)+)", args)[0].split())
    return paths


# compose ---------------------------------------------------------------------------------------


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


# kubernetes ------------------------------------------------------------------------------------


def k8s_deployments(docs: K8sDocs) -> dict[str, Unit]:
    return {name: unit for name, (unit, _) in pod_units(docs, "Deployment").items()}


def k8s_env(docs: K8sDocs) -> list[str]:
    return check_env(k8s_deployments(docs), K8S_PRODUCTION)


def k8s_ports(docs: K8sDocs) -> list[str]:
    units = k8s_deployments(docs)
    problems = check_ports(units)
    services = {s["metadata"]["name"]: s for s in k8s_objects(docs, "Service")}
    for name, (unit, obj) in pod_units(docs, "Deployment").items():
        if name not in SETTINGS:
            continue
        svc = services.get(name)
        if svc is None:
            problems.append(f"{name}: no Service")
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        if any(labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
            problems.append(f"{name}: its Service selects other pods")
        container = obj["spec"]["template"]["spec"]["containers"][0]
        named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        targets = {named.get(p["targetPort"], p["targetPort"]) for p in svc["spec"]["ports"]}
        for var, port in listener_ports(unit, SETTINGS[name]).items():
            if port not in targets:
                problems.append(f"{name}: its Service does not reach {var} ({port})")
    return problems


def k8s_probes(docs: K8sDocs) -> list[str]:
    problems = check_probes(k8s_deployments(docs), kinds_needed=2)
    for name, (_, obj) in pod_units(docs, "Deployment").items():
        container = obj["spec"]["template"]["spec"]["containers"][0]
        for kind in ("readinessProbe", "livenessProbe"):
            if "httpGet" not in container.get(kind, {}):
                problems.append(f"{name}: no HTTP {kind}")
    return problems


def k8s_replicas(docs: K8sDocs) -> list[str]:
    return check_replicas(k8s_deployments(docs))


def k8s_modules(docs: K8sDocs) -> list[str]:
    return check_modules(
        k8s_deployments(docs) | {name: unit for name, (unit, _) in pod_units(docs, "Job").items()}
    )


def k8s_file_paths(docs: K8sDocs) -> list[str]:
    return check_file_paths(k8s_deployments(docs), set())


def k8s_topics(docs: K8sDocs) -> list[str]:
    problems = []
    jobs = [u for u, _ in pod_units(docs, "Job").values() if u.module == [TOPICS_MODULE]]
    if not jobs:
        return [f"no Job runs {TOPICS_MODULE}"]
    common = [n for n, data in config_maps(docs).items() if "KAFKA_TOPIC_PARTITIONS" in data]
    if len(common) != 1:
        return [f"the topic settings are in {len(common)} ConfigMaps, want one"]
    for name, (_, obj) in (pod_units(docs, "Deployment") | pod_units(docs, "Job")).items():
        container = obj["spec"]["template"]["spec"]["containers"][0]
        sources = [s.get("configMapRef", {}).get("name") for s in container.get("envFrom", [])]
        if common[0] not in sources:
            problems.append(f"{name}: does not take its environment from {common[0]}")
        for item in container.get("env", []):
            if item["name"] in ("KAFKA_TOPIC_PARTITIONS", "KAFKA_REPLICATION_FACTOR"):
                problems.append(f"{name}: sets {item['name']} itself")
    return problems


def k8s_mongodb(docs: K8sDocs) -> list[str]:
    """MONGODB_URI comes from a Secret; the example Secret's value is checked."""
    secs = secrets(docs)
    uris: dict[str, str | None] = {}
    for name, (_, obj) in pod_units(docs, "Deployment").items():
        for item in obj["spec"]["template"]["spec"]["containers"][0].get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if item["name"] == "MONGODB_URI" and ref:
                uris[name] = secs.get(ref["name"], {}).get(ref["key"])
    return check_mongodb(k8s_deployments(docs), lambda unit: uris.get(unit.name))


def k8s_references(docs: K8sDocs) -> list[str]:
    """Every ConfigMap, Secret and key a pod refers to exists (Secrets: in the example)."""
    problems = []
    maps, secs = config_maps(docs), secrets(docs)
    for name, (_, obj) in (pod_units(docs, "Deployment") | pod_units(docs, "Job")).items():
        pod = obj["spec"]["template"]["spec"]
        container = pod["containers"][0]
        for item in container.get("env", []):
            source = item.get("valueFrom", {})
            for ref_kind, store in (("configMapKeyRef", maps), ("secretKeyRef", secs)):
                ref = source.get(ref_kind)
                if ref and ref["key"] not in store.get(ref["name"], {}):
                    problems.append(
                        f"{name}: {item['name']} refers to missing {ref['name']}.{ref['key']}"
                    )
        for source in container.get("envFrom", []):
            ref_name = source.get("configMapRef", {}).get("name")
            if ref_name and ref_name not in maps:
                problems.append(f"{name}: envFrom missing ConfigMap {ref_name}")
        mounted = {m["name"] for m in container.get("volumeMounts", [])}
        for volume in pod.get("volumes", []):
            if volume["name"] not in mounted:
                problems.append(f"{name}: volume {volume['name']} is never mounted")
            if "configMap" in volume and volume["configMap"]["name"] not in maps:
                problems.append(
                    f"{name}: volume of missing ConfigMap {volume['configMap']['name']}"
                )
            if "secret" in volume and volume["secret"]["secretName"] not in secs:
                problems.append(
                    f"{name}: volume of missing Secret {volume['secret']['secretName']}"
                )
    return problems


def k8s_secret_files(docs: K8sDocs) -> list[str]:
    """The staff and functionaries files are keys of a Secret mounted where they point."""
    problems = []
    secs = secrets(docs)
    for name, (_, obj) in pod_units(docs, "Deployment").items():
        pod = obj["spec"]["template"]["spec"]
        container = pod["containers"][0]
        for var in ("REVIEW_STAFF_FILE", "FUNCTIONARIES_FILE"):
            value = next(
                (i.get("value") for i in container.get("env", []) if i["name"] == var), None
            )
            if value is None:
                continue
            mount = next(
                (m for m in container["volumeMounts"] if value.startswith(m["mountPath"] + "/")),
                None,
            )
            holder: dict[str, Any] = next(
                (v for v in pod["volumes"] if mount and v["name"] == mount["name"]), {}
            )
            secret_name = holder.get("secret", {}).get("secretName")
            if Path(value).name not in secs.get(secret_name, {}):
                problems.append(f"{name}: {var} is not a file of a mounted Secret")
    return problems


def k8s_kustomization(docs: K8sDocs) -> list[str]:
    problems = []
    kustomization = docs["kustomization.yaml"][0]
    listed = set(kustomization.get("resources", []))
    present = set(docs) - {"kustomization.yaml", "secrets.example.yaml"}
    if listed != present:
        problems.append(f"resources {sorted(listed)} are not the manifests {sorted(present)}")
    if "secrets.example.yaml" in listed:
        problems.append("the example Secrets (placeholders) would be applied")
    generated = {g["name"]: g for g in kustomization.get("configMapGenerator", [])}
    policy = generated.get("casework-policy", {}).get("files", [])
    sources = [(K8S / f.partition("=")[2]).resolve() for f in policy]
    if sources != [POLICY_FILE.resolve()]:
        problems.append(f"the policy ConfigMap is not generated from {POLICY_FILE}: {policy}")
    return problems


K8S_CHECKS = [
    k8s_env,
    k8s_ports,
    k8s_probes,
    k8s_replicas,
    k8s_modules,
    k8s_file_paths,
    k8s_topics,
    k8s_mongodb,
    k8s_references,
    k8s_secret_files,
    k8s_kustomization,
]


# --- fixtures ----------------------------------------------------------------------------------


def load_k8s() -> K8sDocs:
    return {
        path.name: [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        for path in sorted(K8S.glob("*.yaml"))
    }


def load_compose() -> Compose:
    docker = DOCKERFILE.read_text(encoding="utf-8")
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    return Compose(
        doc=yaml.safe_load(text),
        text=text,
        image_env=image_env(dockerfile_instructions(docker)),
        image_paths=image_paths(docker),
    )


@pytest.fixture(scope="module")
def compose() -> Compose:
    return load_compose()


@pytest.fixture(scope="module")
def k8s() -> K8sDocs:
    return load_k8s()


# --- the real files pass -----------------------------------------------------------------------


@pytest.mark.parametrize("check", COMPOSE_CHECKS, ids=lambda c: c.__name__)
def test_compose_file(check: Callable[[Compose], list[str]], compose: Compose) -> None:
    assert check(compose) == []


@pytest.mark.parametrize("check", K8S_CHECKS, ids=lambda c: c.__name__)
def test_kubernetes_manifests(check: Callable[[K8sDocs], list[str]], k8s: K8sDocs) -> None:
    assert check(k8s) == []


def test_dockerfile() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_every_service_package_is_deployed() -> None:
    packages = {p.parent.name for p in (REPO_ROOT / "services").glob("*/__main__.py")}
    assert packages == set(SETTINGS)


def test_the_listener_fields_exist() -> None:
    for name, cls in SETTINGS.items():
        assert set(listeners(name)) <= set(cls.model_fields), name


def test_the_topics_command_exists_and_reads_the_topic_settings() -> None:
    assert importlib.util.find_spec(TOPICS_MODULE) is not None
    assert {"KAFKA_TOPIC_PARTITIONS", "KAFKA_REPLICATION_FACTOR"} <= set(variables(TopicSettings))


def test_the_image_ships_every_file_the_services_load() -> None:
    """A non-editable install (the image) only has the data files pyproject lists."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["*"]
    data = [
        p
        for top in ("casework", "services")
        for p in (REPO_ROOT / top).rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert data, "expected templates and static files"
    missing = [str(p) for p in data if not any(fnmatch.fnmatch(p.name, pat) for pat in patterns)]
    assert missing == []


def test_the_build_context_has_what_the_dockerfile_copies() -> None:
    ignore = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    steps = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    for word, args in steps:
        if word == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (REPO_ROOT / source).exists(), source
                assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"


def test_no_copy_of_the_policy_file_lives_under_deploy() -> None:
    assert [p for p in DEPLOY.rglob("office-actions.yaml")] == []


def test_kustomize_renders_the_manifests(tmp_path: Path) -> None:
    """Renders offline (no cluster is contacted): names, hashes and images resolve. kubectl
    comes with this machine's image (no reachable package source has it)."""
    if shutil.which("kubectl") is None:
        missing_part("kubectl (kustomize) is not installed")
    empty = tmp_path / "kubeconfig"
    empty.write_text("")
    rendered = subprocess.run(
        ["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(K8S)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"KUBECONFIG": str(empty), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        check=True,
    ).stdout
    objects = [d for d in yaml.safe_load_all(rendered) if d]
    policy = [o for o in objects if o["kind"] == "ConfigMap" and "policy" in o["metadata"]["name"]]
    assert policy[0]["data"]["office-actions.yaml"] == POLICY_FILE.read_text(encoding="utf-8")
    signing: dict[str, tuple[set[str], set[str]]] = {}
    for obj in objects:
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            volumes = pod["volumes"]
            names = [v["configMap"]["name"] for v in volumes if "configMap" in v]
            # The generated policy, plus the operator's own ConfigMaps (secrets.example.yaml).
            assert names[0] == policy[0]["metadata"]["name"]
            assert set(names[1:]) <= {"casework-review-public-keys"}, names
            secrets = {v["secret"]["secretName"] for v in volumes if "secret" in v}
            env = {e["name"] for c in pod["containers"] for e in c.get("env", [])}
            signing[obj["metadata"]["name"]] = (secrets, env)
        assert obj["kind"] == "Namespace" or obj["metadata"]["namespace"] == "casework"
    # Review's private key reaches review alone; every service acting on review's
    # decisions trusts review's public keys.
    for name, (secrets, env) in signing.items():
        assert ("casework-review-signing" in secrets) == (name == "review"), name
        assert ("REVIEW_SIGNING_KEY_FILE" in env) == (name == "review"), name
        if name in ("review", "enforcement", "notify", "monitor"):
            assert "CASEWORK_REVIEW_PUBLIC_KEYS" in env, name


# --- each check can fail -----------------------------------------------------------------------


def _svc(doc: dict[str, Any], name: str) -> dict[str, Any]:
    service: dict[str, Any] = doc["services"][name]
    return service


def _drop_env(name: str, var: str) -> Callable[[Compose], None]:
    def mutate(c: Compose) -> None:
        _svc(c.doc, name)["environment"].pop(var)

    return mutate


COMPOSE_MUTATIONS: list[tuple[str, Callable[[Compose], None], str]] = [
    (
        "signing key leaked",
        lambda c: _svc(c.doc, "notify")["secrets"].append("review-signing.pem"),
        "notify: review's signing key must be review's secret alone",
    ),
    (
        "no public keys",
        lambda c: _svc(c.doc, "enforcement")["secrets"].remove("review-public.pem"),
        "enforcement: is not given review's public keys",
    ),
    (
        "missing var",
        _drop_env("intake", "INTAKE_FORM_SECRET"),
        "intake: INTAKE_FORM_SECRET is not set",
    ),
    ("missing loopback var", _drop_env("notify", "SMTP_HOST"), "notify: SMTP_HOST is not set"),
    (
        "typo",
        lambda c: _svc(c.doc, "review")["environment"].update(REVEIW_PORT="8082"),
        "review: REVEIW_PORT is set but review does not read it",
    ),
    (
        "loopback value",
        lambda c: _svc(c.doc, "enforcement")["environment"].update(
            KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9092"
        ),
        "points at the container itself",
    ),
    ("port not exposed", lambda c: _svc(c.doc, "intake").update(expose=["8081"], ports=[]), "8026"),
    (
        "port moved",
        lambda c: _svc(c.doc, "monitor")["environment"].update(MONITOR_PORT="9999"),
        "monitor: listens on 9999",
    ),
    (
        "probe path",
        lambda c: _svc(c.doc, "notify")["healthcheck"].update(
            test=["CMD", "python", "-c", "u('http://127.0.0.1:8084/health')"]
        ),
        "probe path '/health'",
    ),
    ("no probe", lambda c: _svc(c.doc, "review").pop("healthcheck"), "review: 0 health probes"),
    (
        "replicas",
        lambda c: _svc(c.doc, "notify")["deploy"].update(replicas=1),
        "notify: 1 replicas",
    ),
    (
        "wrong module",
        lambda c: _svc(c.doc, "review").update(command=["services.reveiw"]),
        "runs ['services.reveiw']",
    ),
    (
        "no topics job",
        lambda c: _svc(c.doc, "topics").update(command=["casework.topic"]),
        "no one-shot service runs casework.topics",
    ),
    (
        "no wait for topics",
        lambda c: _svc(c.doc, "enforcement")["depends_on"].pop("topics"),
        "enforcement: does not wait for topics",
    ),
    (
        "topic settings twice",
        lambda c: setattr(c, "text", c.text + "\n  KAFKA_TOPIC_PARTITIONS: 12\n"),
        "KAFKA_TOPIC_PARTITIONS is written 2 times",
    ),
    (
        "topic settings differ",
        lambda c: _svc(c.doc, "intake")["environment"].update(KAFKA_TOPIC_PARTITIONS="4"),
        "KAFKA_TOPIC_PARTITIONS differs",
    ),
    (
        "replication above brokers",
        lambda c: c.doc["services"].pop("kafka-3"),
        "replication factor 3 > 2 brokers",
    ),
    (
        "not a replica set",
        lambda c: _svc(c.doc, "monitor")["environment"].update(MONGODB_URI="mongodb://mongo-1/"),
        "monitor: MONGODB_URI is not a three-member replica set URI",
    ),
    (
        "member not initiated",
        lambda c: _svc(c.doc, "mongo-init").update(
            command=["mongosh", 'rs.initiate({_id: "rs0"})']
        ),
        "replica set member mongo-1:27017",
    ),
    (
        "staff file outside mounts",
        lambda c: _svc(c.doc, "review").update(secrets=[]),
        "review: REVIEW_STAFF_FILE=/run/secrets/staff.yaml is in no mounted volume",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=i) for i, m, e in COMPOSE_MUTATIONS],
)
def test_compose_checks_catch(mutate: Callable[[Compose], None], expected: str) -> None:
    broken = load_compose()
    mutate(broken)
    problems = [p for check in COMPOSE_CHECKS for p in check(broken)]
    assert any(expected in p for p in problems), problems


def _deployment(docs: K8sDocs, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = docs[f"{name}.yaml"][0]
    return obj


def _container(docs: K8sDocs, name: str) -> dict[str, Any]:
    container: dict[str, Any] = _deployment(docs, name)["spec"]["template"]["spec"]["containers"][0]
    return container


def _drop_k8s_env(name: str, var: str) -> Callable[[K8sDocs], None]:
    def mutate(docs: K8sDocs) -> None:
        container = _container(docs, name)
        container["env"] = [i for i in container["env"] if i["name"] != var]

    return mutate


def _common(docs: K8sDocs) -> dict[str, Any]:
    data: dict[str, Any] = docs["configmap.yaml"][0]["data"]
    return data


K8S_MUTATIONS: list[tuple[str, Callable[[K8sDocs], None], str]] = [
    (
        "missing var",
        _drop_k8s_env("enforcement", "WIKI_PASSWORD"),
        "enforcement: WIKI_PASSWORD is not set",
    ),
    (
        "no instance id",
        _drop_k8s_env("review", "CASEWORK_INSTANCE_ID"),
        "review: CASEWORK_INSTANCE_ID",
    ),
    (
        "typo in shared map",
        lambda d: _common(d).update(KAFKA_BOOTSTRAP_SERVER="kafka:9092"),
        "KAFKA_BOOTSTRAP_SERVER is set but",
    ),
    (
        "container port",
        lambda d: _container(d, "intake")["ports"].pop(),
        "intake: listens on 8026 (INTAKE_MAIL_PORT) but does not expose it",
    ),
    (
        "service port",
        lambda d: d["review.yaml"][1]["spec"]["ports"][0].update(targetPort=8080),
        "review: its Service does not reach REVIEW_PORT",
    ),
    (
        "service selector",
        lambda d: d["notify.yaml"][1]["spec"]["selector"].update({"app.kubernetes.io/name": "x"}),
        "notify: its Service selects other pods",
    ),
    (
        "probe path",
        lambda d: _container(d, "monitor")["livenessProbe"]["httpGet"].update(path="/live"),
        "monitor: probe path '/live'",
    ),
    (
        "no readiness",
        lambda d: _container(d, "intake").pop("readinessProbe"),
        "intake: no HTTP readinessProbe",
    ),
    (
        "replicas",
        lambda d: _deployment(d, "monitor")["spec"].update(replicas=2),
        "monitor: 2 replicas",
    ),
    (
        "job module",
        lambda d: d["topics-job.yaml"][0]["spec"]["template"]["spec"]["containers"][0].update(
            args=["casework.topicz"]
        ),
        "no Job runs casework.topics",
    ),
    (
        "topic settings set locally",
        lambda d: _container(d, "notify")["env"].append(
            {"name": "KAFKA_TOPIC_PARTITIONS", "value": "3"}
        ),
        "notify: sets KAFKA_TOPIC_PARTITIONS itself",
    ),
    (
        "job without common env",
        lambda d: d["topics-job.yaml"][0]["spec"]["template"]["spec"]["containers"][0].update(
            envFrom=[]
        ),
        "casework-topics: does not take its environment from casework-common",
    ),
    (
        "single mongod",
        lambda d: d["secrets.example.yaml"][0]["stringData"].update(
            {"mongodb-uri": "mongodb://u:p@mongo:27017/"}
        ),
        "MONGODB_URI is not a three-member replica set URI",
    ),
    (
        "missing secret key",
        lambda d: d["secrets.example.yaml"][0]["stringData"].pop("intake-form-secret"),
        "refers to missing casework-credentials.intake-form-secret",
    ),
    (
        "staff file not from a secret",
        lambda d: _deployment(d, "review")["spec"]["template"]["spec"]["volumes"][-1].update(
            secret={"secretName": "casework-functionaries"}
        ),
        "review: REVIEW_STAFF_FILE is not a file of a mounted Secret",
    ),
    (
        "path outside mounts",
        lambda d: _container(d, "review")["volumeMounts"].pop(),
        "review: REVIEW_STAFF_FILE=/etc/casework/staff/staff.yaml is in no mounted volume",
    ),
    (
        "unlisted manifest",
        lambda d: d["kustomization.yaml"][0]["resources"].remove("pdb.yaml"),
        "are not the manifests",
    ),
    (
        "policy copy",
        lambda d: d["kustomization.yaml"][0]["configMapGenerator"][0].update(
            files=["office-actions.yaml=office-actions.yaml"]
        ),
        "the policy ConfigMap is not generated from",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=i) for i, m, e in K8S_MUTATIONS],
)
def test_kubernetes_checks_catch(mutate: Callable[[K8sDocs], None], expected: str) -> None:
    broken = copy.deepcopy(load_k8s())
    mutate(broken)
    problems = [p for check in K8S_CHECKS for p in check(broken)]
    assert any(expected in p for p in problems), problems


def _replace(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new)


DOCKERFILE_MUTATIONS: list[tuple[str, Callable[[str], str], str]] = [
    ("root", _replace("USER 10001:10001", "USER root"), "non-root USER"),
    ("no user", _replace("USER 10001:10001\n", ""), "non-root USER"),
    ("base", _replace("FROM python:3.11-slim\n", "FROM python:3.12\n"), "want python:3.11-slim"),
    (
        "project not installed",
        _replace("--wheel-dir /wheels .", "--wheel-dir /wheels aiohttp"),
        "installs the project",
    ),
    ("dev extras", _replace("--wheel-dir /wheels .", "--wheel-dir /wheels .[dev] ."), "dev extras"),
    ("entrypoint", _replace('ENTRYPOINT ["python", "-m"]', 'ENTRYPOINT ["python"]'), "ENTRYPOINT"),
    ("cmd", _replace('CMD ["services.review"]', 'CMD ["services.reveiw"]'), "CMD names no"),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=i) for i, m, e in DOCKERFILE_MUTATIONS],
)
def test_dockerfile_checks_catch(mutate: Callable[[str], str], expected: str) -> None:
    original = DOCKERFILE.read_text(encoding="utf-8")
    broken = mutate(original)
    assert broken != original
    assert any(expected in p for p in dockerfile_problems(broken))


def test_every_check_has_a_failing_case() -> None:
    """Each compose and Kubernetes check reports at least one mutation above."""
    caught: set[str] = set()
    cases: Iterable[tuple[list[Any], Callable[[], Any], list[Any]]] = [
        (COMPOSE_CHECKS, load_compose, COMPOSE_MUTATIONS),
        (K8S_CHECKS, lambda: copy.deepcopy(load_k8s()), K8S_MUTATIONS),
    ]
    for checks, load, mutations in cases:
        for _, mutate, _ in mutations:
            broken = load()
            mutate(broken)
            caught |= {check.__name__ for check in checks if check(broken)}
    assert {c.__name__ for c in COMPOSE_CHECKS + K8S_CHECKS} - caught == set()

"""A deployment seen the same way from compose and from Kubernetes (a Unit per process), and
the checks both kinds of file share. Each check returns the problems it finds."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from casework.config import ServiceSettings
from tests.manifests.needs import (
    LOOPBACK,
    NOT_SERVICE_VARIABLES,
    REPLICAS,
    SETTINGS,
    get_routes,
    listeners,
    loopback_defaults,
    needed,
    read_by,
    variables,
)


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


def app_sources(service: str) -> list[str]:
    """The source of the service's app module and of its entrypoints (where its HTTP app may
    be built, app.py wiring it)."""
    modules = [importlib.import_module(f"services.{service}.app")]
    if importlib.util.find_spec(f"services.{service}.entrypoints") is not None:
        package = importlib.import_module(f"services.{service}.entrypoints")
        for found in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            modules.append(importlib.import_module(found.name))
    return [inspect.getsource(module) for module in modules]


def check_probes(units: dict[str, Unit], *, kinds_needed: int) -> list[str]:
    problems = []
    routes = get_routes()
    for name, cls in SETTINGS.items():
        unit = units.get(name)
        if unit is None:
            continue
        if not any("make_app(" in source for source in app_sources(name)):
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

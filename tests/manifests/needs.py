"""What the services read (their settings' environment variables, listeners, routes) and
what production must set beyond what the defaults make necessary."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic.fields import FieldInfo

from casework import runtime
from casework.config import REPO_ROOT, ServiceSettings
from casework.http import make_app
from services.enforcement.settings import EnforcementSettings
from services.intake.settings import IntakeSettings
from services.monitor.settings import MonitorSettings
from services.notify.settings import NotifySettings
from services.review.settings import ReviewSettings
from services.transparency.settings import TransparencySettings

SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "review": ReviewSettings,
    "enforcement": EnforcementSettings,
    "notify": NotifySettings,
    "monitor": MonitorSettings,
    "transparency": TransparencySettings,
}
REPLICAS = {
    "intake": 2,
    "review": 2,
    "enforcement": 2,
    "notify": 2,
    "monitor": 1,
    "transparency": 2,
}
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
        "CASEWORK_REVIEW_LEDGER_URL": "reconciles the tracking pages from review's ledger",
        "CASEWORK_REVIEW_LEDGER_TOKEN_FILE": "the token of the review-intake pair",
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

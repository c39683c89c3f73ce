"""Broken copies of the deployment files, each with (a part of) the problem a check must
report: shows every check can fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.manifests.compose import Compose
from tests.manifests.k8s import K8sDocs


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

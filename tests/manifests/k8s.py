"""The Kubernetes manifests read as Units (each Deployment's or Job's pod), and their checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from casework.config import REPO_ROOT
from tests.manifests.dockerfile import DEPLOY
from tests.manifests.needs import K8S_PRODUCTION, SETTINGS, TOPICS_MODULE
from tests.manifests.units import (
    Unit,
    check_env,
    check_file_paths,
    check_modules,
    check_mongodb,
    check_ports,
    check_probes,
    check_replicas,
    listener_ports,
)

K8S = DEPLOY / "k8s"
POLICY_FILE = REPO_ROOT / "policy" / "office-actions.yaml"

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


def load_k8s() -> K8sDocs:
    return {
        path.name: [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        for path in sorted(K8S.glob("*.yaml"))
    }

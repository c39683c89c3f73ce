"""The deployment artefacts checked against the code they deploy.

These machines have no container engine and no cluster, so the Dockerfile, the compose
file and the Kubernetes manifests are never run here. Instead each file is parsed and
compared, at test time, with what the services read: the environment variables of their
settings classes (so a renamed or new variable shows up here at once), the ports they
listen on, the routes their HTTP app serves, the topics command. Every check returns the
problems it finds; each is shown to fail on a mutated copy of the parsed files. The
checks and the mutations live in tests/manifests/; these tests run them.
"""

from __future__ import annotations

import copy
import fnmatch
import importlib.util
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from casework.config import REPO_ROOT
from casework.topics import TopicSettings
from deploy.credentials import PRINCIPALS
from tests.manifests.acls import ACLS, acl_problems, consumed_by_handlers, public_topic_problems
from tests.manifests.compose import COMPOSE_CHECKS, Compose, load_compose
from tests.manifests.dockerfile import (
    DEPLOY,
    DOCKERFILE,
    dockerfile_instructions,
    dockerfile_problems,
)
from tests.manifests.k8s import K8S, K8S_CHECKS, POLICY_FILE, K8sDocs, load_k8s
from tests.manifests.mutations import COMPOSE_MUTATIONS, DOCKERFILE_MUTATIONS, K8S_MUTATIONS
from tests.manifests.needs import SETTINGS, TOPICS_MODULE, listeners, variables
from tests.support import missing_part


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


def test_each_consumer_reads_exactly_the_topics_of_its_handlers_in_its_group() -> None:
    consumed = consumed_by_handlers()
    assert {"intake", "review", "enforcement", "notify", "transparency"} <= set(consumed)
    assert acl_problems(ACLS.read_text(encoding="utf-8"), consumed) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            '--topic "$NS.review" --group casework-intake',
            "--group casework-intake",
            "intake consumes officeactions.review but kafka-acls.sh grants no Read",
            id="intake-not-granted",
        ),
        pytest.param(
            '--topic "$NS.review" --group casework-enforcement',
            '--topic "$NS.review" --topic "$NS.intake" --group casework-enforcement',
            "enforcement may read officeactions.intake in its group but consumes nothing there",
            id="enforcement-granted-more",
        ),
    ],
)
def test_the_acl_check_catches(old: str, new: str, expected: str) -> None:
    original = ACLS.read_text(encoding="utf-8")
    assert old in original
    problems = acl_problems(original.replace(old, new), consumed_by_handlers())
    assert any(expected in p for p in problems), problems


def test_the_portal_reads_only_the_public_topic_and_only_notify_writes_it() -> None:
    assert public_topic_problems(ACLS.read_text(encoding="utf-8"), PRINCIPALS) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            '--topic "$NS.public" --group casework-transparency',
            '--topic "$NS.public" --topic "$NS.notify" --group casework-transparency',
            "transparency may Read ['officeactions.notify', 'officeactions.public',",
            id="portal-reads-notify",
        ),
        pytest.param(
            '--operation Create --topic "$NS.transparency.dlq"',
            '--operation Create --topic "$NS.transparency.dlq" --topic "$NS.public"',
            "transparency may Write ['officeactions.public', 'officeactions.transparency.dlq']",
            id="portal-writes-public",
        ),
        pytest.param(
            "acl --allow-principal User:notify --operation Write --operation Read \\\n"
            '  --operation Create --topic "$NS.public"',
            "acl --allow-principal User:notify --allow-principal User:review --operation Write"
            ' --operation Read --operation Create --topic "$NS.public"',
            "officeactions.public is written by ['notify', 'ops', 'review']",
            id="review-writes-public",
        ),
    ],
)
def test_the_public_topic_check_catches(old: str, new: str, expected: str) -> None:
    original = ACLS.read_text(encoding="utf-8")
    assert old in original
    problems = public_topic_problems(original.replace(old, new), PRINCIPALS)
    assert any(expected in p for p in problems), problems


def test_the_portal_holds_no_secret_but_its_bus_password_and_store(
    compose: Compose, k8s: K8sDocs
) -> None:
    """It faces the internet: no signing key, ledger token, wiki or mail credential."""
    assert compose.doc["services"]["transparency"]["secrets"] == ["kafka-transparency.password"]
    (deployment,) = [d for d in k8s["transparency.yaml"] if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    refs = {
        (ref["name"], ref["key"])
        for item in pod["containers"][0]["env"]
        if (ref := item.get("valueFrom", {}).get("secretKeyRef"))
    }
    assert refs == {
        ("casework-credentials", "mongodb-uri"),
        ("casework-kafka", "transparency-password"),
    }
    secret_volumes = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secret_volumes == {"casework-kafka-ca"}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=i) for i, m, e in COMPOSE_MUTATIONS],
)
def test_compose_checks_catch(mutate: Callable[[Compose], None], expected: str) -> None:
    broken = load_compose()
    mutate(broken)
    problems = [p for check in COMPOSE_CHECKS for p in check(broken)]
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=i) for i, m, e in K8S_MUTATIONS],
)
def test_kubernetes_checks_catch(mutate: Callable[[K8sDocs], None], expected: str) -> None:
    broken = copy.deepcopy(load_k8s())
    mutate(broken)
    problems = [p for check in K8S_CHECKS for p in check(broken)]
    assert any(expected in p for p in problems), problems


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

"""deploy/kafka-acls.sh read as data: each consuming service may read, in its own consumer
group, exactly the topics its HANDLERS table implies (casework.dispatch.consumed_topics)."""

from __future__ import annotations

import importlib
import re
import shlex

from casework.config import REPO_ROOT
from casework.contract import SERVICES
from casework.dispatch import consumed_topics

ACLS = REPO_ROOT / "deploy" / "kafka-acls.sh"
# The monitor's faust app reads every topic by prefix, in groups of its own.
NOT_GROUP_CONSUMERS = {"monitor"}


def consumed_by_handlers() -> dict[str, set[str]]:
    """Every service consuming through casework's consumer: the topics its table implies."""
    found = {}
    for service in set(SERVICES) - NOT_GROUP_CONSUMERS:
        if (REPO_ROOT / "services" / service / "handlers.py").is_file():
            handlers = importlib.import_module(f"services.{service}.handlers").HANDLERS
            found[service] = set(consumed_topics(handlers))
    return found


def acl_commands(text: str) -> list[list[str]]:
    """Each ``acl …`` call's arguments, continuation lines joined, $NS put in."""
    namespace = re.search(r"^NS=(\S+)$", text, re.MULTILINE)
    assert namespace is not None, "kafka-acls.sh sets NS"
    joined = re.sub(r"\\\n", " ", text).replace("$NS", namespace.group(1))
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True) if line.strip() else []
        if words and words[0] == "acl":
            commands.append(words[1:])
    return commands


def _values(words: list[str], option: str) -> set[str]:
    return {words[i + 1] for i, word in enumerate(words[:-1]) if word == option}


def consumer_reads(text: str) -> dict[str, set[str]]:
    """Principal → the topics it may Read in its own group casework-<principal>."""
    reads: dict[str, set[str]] = {}
    for words in acl_commands(text):
        principals = {p.removeprefix("User:") for p in _values(words, "--allow-principal")}
        for principal in principals:
            if "Read" in _values(words, "--operation") and (
                f"casework-{principal}" in _values(words, "--group")
            ):
                reads.setdefault(principal, set()).update(_values(words, "--topic"))
    return reads


def acl_problems(text: str, consumed: dict[str, set[str]]) -> list[str]:
    reads = consumer_reads(text)
    problems = []
    for service, topics in sorted(consumed.items()):
        granted = reads.get(service, set())
        for topic in sorted(topics - granted):
            problems.append(
                f"{service} consumes {topic} but kafka-acls.sh grants no Read of it"
                f" in group casework-{service}"
            )
        for topic in sorted(granted - topics):
            problems.append(f"{service} may read {topic} in its group but consumes nothing there")
    return problems

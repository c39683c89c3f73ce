"""deploy/kafka-acls.sh read as data: each consuming service (and read model) may read, in
its own consumer group, exactly the topics its HANDLERS table implies
(casework.dispatch.consumed_topics); :func:`topic_grants` gives what one principal may do
on which topics, wherever in the file it is granted."""

from __future__ import annotations

import importlib
import re
import shlex

from casework.config import REPO_ROOT
from casework.contract import PUBLIC_TOPIC, READ_MODELS, SERVICES, dead_letter_topic_of
from casework.dispatch import consumed_topics

ACLS = REPO_ROOT / "deploy" / "kafka-acls.sh"
# The monitor's faust app reads every topic by prefix, in groups of its own.
NOT_GROUP_CONSUMERS = {"monitor"}


def consumed_by_handlers() -> dict[str, set[str]]:
    """Every service (and read model) consuming through casework's consumer: the topics its
    table implies."""
    found = {}
    for service in (set(SERVICES) | set(READ_MODELS)) - NOT_GROUP_CONSUMERS:
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


def topic_grants(text: str, principal: str) -> dict[str, set[str]]:
    """Operation → the topics (literal or prefixed) ``principal`` is granted it on, from the
    ``acl`` calls naming it literally (``User:<principal>``)."""
    grants: dict[str, set[str]] = {}
    for words in acl_commands(text):
        if f"User:{principal}" not in _values(words, "--allow-principal"):
            continue
        prefixed = "prefixed" in _values(words, "--resource-pattern-type")
        topics = {f"{t}*" if prefixed else t for t in _values(words, "--topic")}
        for operation in _values(words, "--operation"):
            grants.setdefault(operation, set()).update(topics)
    return grants


def covers(pattern: str, topic: str) -> bool:
    """A granted topic (``name`` or prefixed ``name*``) covers ``topic``."""
    return topic.startswith(pattern[:-1]) if pattern.endswith("*") else pattern == topic


def public_topic_problems(text: str, principals: tuple[str, ...]) -> list[str]:
    """The public portal (transparency) reads officeactions.public and its own dead-letter
    topic and writes only that; of the services, only notify may write officeactions.public
    (ops too: the topics job and the dead-letter replay)."""
    public, dead_letters = PUBLIC_TOPIC, dead_letter_topic_of("transparency")
    problems = []
    portal = topic_grants(text, "transparency")
    for operation, want in (("Read", {public, dead_letters}), ("Write", {dead_letters})):
        if portal.get(operation, set()) != want:
            problems.append(
                f"transparency may {operation} {sorted(portal.get(operation, set()))},"
                f" want {sorted(want)}"
            )
    for operation in set(portal) - {"Read", "Write", "Create", "Describe"}:
        problems.append(f"transparency is granted {operation}")
    writers = {
        principal
        for principal in principals
        for operation, topics in topic_grants(text, principal).items()
        if operation in ("Write", "All") and any(covers(t, public) for t in topics)
    }
    if writers != {"notify", "ops"}:
        problems.append(f"{public} is written by {sorted(writers)}, want notify and ops")
    return problems

"""The Dockerfile: its instructions, the final image's environment and paths, its checks."""

from __future__ import annotations

import importlib.util
import re

import yaml

from casework.config import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
DOCKERFILE = DEPLOY / "container" / "Dockerfile"


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

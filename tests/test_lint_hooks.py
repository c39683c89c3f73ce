"""The lint habits hold: the pre-commit hooks run what `make lint` runs, and CI lints before
it tests."""

from __future__ import annotations

import re

import yaml

from casework.config import REPO_ROOT


def makefile_variables(text: str) -> dict[str, str]:
    """``NAME ?= value`` and ``NAME := value`` assignments, earlier ones expanded in later."""
    found: dict[str, str] = {}
    for name, value in re.findall(r"^(\w+)\s*[?:]?=\s*(.*)$", text, flags=re.MULTILINE):
        found[name] = expand(value.strip(), found)
    return found


def expand(command: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group(0)), command)


def recipe(text: str, target: str) -> list[str]:
    """The commands of ``target``'s recipe, variables expanded."""
    match = re.search(rf"^{target}:.*\n((?:\t.*\n?)*)", text, flags=re.MULTILINE)
    assert match is not None, f"no {target} target"
    variables = makefile_variables(text)
    return [expand(line.strip(), variables) for line in match.group(1).splitlines()]


def test_the_hooks_run_the_lint_recipe() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    lint = recipe(makefile, "lint")
    assert len(lint) == 4, lint
    assert [hook["entry"] for hook in hooks] == lint
    for hook in hooks:
        assert hook["language"] == "system", hook["id"]
        assert hook["pass_filenames"] is False, hook["id"]
        assert hook["always_run"] is True, hook["id"]


def test_ci_lints_before_it_tests() -> None:
    script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in script.splitlines() if line.startswith("make ")]
    assert commands.index("make lint") < commands.index("make test")

"""`make run` installs only what running needs; `make test` installs the rest.

Read from the real Makefile with `make -n` (it prints the commands a target would run,
running none) and from deploy/install-debian.sh's own package lists.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_ONLY = {"chromium", "dovecot-imapd", "nodejs", "npm"}


def dry_run(target: str, tmp_path: Path) -> str:
    """The commands `make <target>` would run with a virtualenv that has nothing yet."""
    if shutil.which("make") is None:
        pytest.fail("make is not installed: `make test` itself needs it")
    done = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def packages(which: str) -> set[str]:
    listed = subprocess.run(
        ["bash", "deploy/install-debian.sh", "--list", which],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return set(listed.stdout.split())


def test_make_run_installs_no_test_tools(tmp_path: Path) -> None:
    commands = dry_run("run", tmp_path)
    assert "install-debian.sh run" in commands
    assert "install -e ." in commands.replace("--quiet ", "")
    assert "[dev]" not in commands
    assert not packages("run") & TEST_ONLY
    assert {"mediawiki", "php-cli"} <= packages("run")


def test_make_test_installs_the_test_tools_too(tmp_path: Path) -> None:
    commands = dry_run("test", tmp_path)
    assert "install-debian.sh test" in commands and "'.[dev]'" in commands
    assert packages("test") == packages("run") | TEST_ONLY


def test_an_unknown_set_is_refused() -> None:
    refused = subprocess.run(
        ["bash", "deploy/install-debian.sh", "--list", "everything"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 2 and "usage:" in refused.stderr

"""bench/cpu.py: where an end-to-end run's CPU goes, read from this machine's /proc."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench import cpu


def _burn(seconds: float) -> None:
    """Use this much CPU time (not wall time: the machine may be busy)."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_this_process_is_the_driver_and_its_cpu_is_counted() -> None:
    before = cpu.snapshot()
    _burn(0.3)
    use = cpu.used(before, cpu.snapshot())
    assert use.by_role[cpu.DRIVER] >= 0.25
    assert 0 < use.busy_share <= 1
    assert use.theirs >= use.by_role[cpu.DRIVER] and use.ours == 0


def test_a_service_process_counts_as_ours_by_its_module(tmp_path: Path) -> None:
    """A process whose command line runs services.review is review's, from when it started."""
    script = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    module = tmp_path / "services" / "review"
    module.mkdir(parents=True)
    (tmp_path / "services" / "__init__.py").write_text("")
    (module / "__init__.py").write_text("")
    # It says when it has used its CPU, then waits on stdin, alive, until the test is done.
    tell = "import sys\nprint('burnt', flush=True)\nsys.stdin.read()\n"
    (module / "__main__.py").write_text(script + tell)
    before = cpu.snapshot()
    child = subprocess.Popen(
        [sys.executable, "-m", "services.review"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "burnt\n"
        use = cpu.used(before, cpu.snapshot())
        assert use.by_role.get("review", 0) >= 0.25
        assert use.ours >= 0.25
        [row] = [r for r in cpu.rows(use, 10, 50.0, "run") if r.name.endswith(": review")]
        assert row.unit == "ms/case" and row.value >= 25
    finally:
        child.communicate("", timeout=30)


def test_rows_put_theirs_against_the_budget_and_name_every_role() -> None:
    use = cpu.CpuUse(
        {"MediaWiki": 3.0, "Tansu": 1.0, "review": 2.0, cpu.DRIVER: 1.0, cpu.OTHER: 0.5},
        0.9,
    )
    rows = {r.name.split(": ", 1)[1]: r for r in cpu.rows(use, 100, 40.0, "run")}
    assert rows["MediaWiki"].value == 30.0 and rows["review"].value == 20.0
    assert rows[cpu.OTHER].value == 5.0
    assert rows["our services (intake, review, enforcement, notify)"].value == 20.0
    [theirs] = [r for k, r in rows.items() if k.startswith("the wiki farm")]
    # MediaWiki, Tansu and the driver; not the rest of the machine, not ours.
    assert theirs.value == 50.0 and theirs.limit == 40.0 and theirs.ratio == 1.25
    assert (
        rows["the machine's cores busy"].value == 90.0
        and rows["the machine's cores busy"].unit == "%"
    )


def test_roles_come_from_the_program_or_the_module_not_from_any_word_in_the_arguments() -> None:
    """The SASL gate's command line names Tansu's (it starts it): it is still the gate."""
    gate = [sys.executable, "-m", "deploy.kafka_gate", "--credentials", "/tmp/tansu-gate-x/s"]
    gate += ["--", "/root/bin/tansu-v0.6.0", "broker", "--storage-engine", "memory://tansu/"]
    assert cpu.role_of(1, gate) == "SASL gate"
    assert cpu.role_of(1, ["/root/bin/tansu-v0.6.0", "broker"]) == "Tansu"
    assert cpu.role_of(1, ["php", "-S", "127.0.0.1:8090", "-t", "/usr/share/mediawiki"]) == (
        "MediaWiki"
    )
    assert cpu.role_of(1, [sys.executable, "-m", "services.notify"]) == "notify"
    assert cpu.role_of(1, [sys.executable, "-m", "services.monitor"]) == cpu.OTHER
    assert cpu.role_of(1, ["/usr/bin/python3", "-m"]) == cpu.OTHER
    assert cpu.role_of(1, []) == cpu.OTHER

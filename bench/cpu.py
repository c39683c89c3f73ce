"""Where a run's CPU goes: every process's CPU time (user + system, from /proc/<pid>/stat),
grouped by what the process is, between two snapshots.

The end-to-end run shares two cores with the wiki farm, the broker, the SASL gate and the
benchmark's own driver (this process: HTTP calls, sign-offs, topic watch, mail sink);
this tells ours from theirs, per case, in every `make bench`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.report import Row

DRIVER = "driver (HTTP, sign-offs, topic watch, mail sink)"
OTHER = "anything else on the machine"
# Python processes by the module they run (``-m``), the others by their program's name.
MODULES = {
    "deploy.kafka_gate": "SASL gate",
    **{f"services.{name}": name for name in ("intake", "review", "enforcement", "notify")},
}
PROGRAMS = (("MediaWiki", "php"), ("Tansu", "tansu"))
OURS = frozenset({"intake", "review", "enforcement", "notify"})
_TICKS = os.sysconf("SC_CLK_TCK")


def role_of(pid: int, argv: list[str]) -> str:
    if pid == os.getpid():
        return DRIVER
    if "-m" in argv[:-1]:
        return MODULES.get(argv[argv.index("-m") + 1], OTHER)
    program = Path(argv[0]).name if argv else ""
    return next((role for role, name in PROGRAMS if program.startswith(name)), OTHER)


@dataclass(frozen=True)
class Snapshot:
    per_process: dict[int, tuple[str, float]]  # pid → (role, CPU seconds so far)
    busy: float  # the machine's non-idle CPU seconds so far, all cores (/proc/stat)
    total: float  # all of its CPU seconds so far, all cores


def snapshot(proc: Path = Path("/proc")) -> Snapshot:
    found: dict[int, tuple[str, float]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid = int(entry.name)
        found[pid] = (
            role_of(pid, [a for a in argv if a]),
            (int(fields[11]) + int(fields[12])) / _TICKS,
        )
    ticks = [int(x) for x in (proc / "stat").read_text().splitlines()[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return Snapshot(found, (sum(ticks) - idle) / _TICKS, sum(ticks) / _TICKS)


@dataclass(frozen=True)
class CpuUse:
    by_role: dict[str, float]  # CPU seconds between the snapshots
    busy_share: float  # of all cores' time, how much was not idle

    def per_case_ms(self, cases: int) -> dict[str, float]:
        return {role: seconds * 1000 / cases for role, seconds in self.by_role.items()}

    @property
    def ours(self) -> float:
        return sum(s for role, s in self.by_role.items() if role in OURS)

    @property
    def theirs(self) -> float:
        """The wiki farm, the broker, the gate and the driver: what our services cannot
        make cheaper, only call less."""
        return sum(s for role, s in self.by_role.items() if role not in OURS | {OTHER})


def used(before: Snapshot, after: Snapshot) -> CpuUse:
    """CPU between two snapshots, by role. A process started in between counts from zero;
    one that ended in between is missing (the run's processes live across it)."""
    by_role: dict[str, float] = {}
    for pid, (role, seconds) in after.per_process.items():
        earlier = before.per_process.get(pid)
        since = seconds - (earlier[1] if earlier and earlier[0] == role else 0.0)
        by_role[role] = by_role.get(role, 0.0) + since
    total = after.total - before.total
    share = (after.busy - before.busy) / total if total > 0 else 0.0
    return CpuUse({role: s for role, s in by_role.items() if s > 0}, share)


def rows(use: CpuUse, cases: int, budget_ms: float, what: str) -> list[Row]:
    """The report's rows: each role's CPU per case, ours and theirs, and theirs against
    the CPU a case may take at the end-to-end target (``budget_ms``: all cores' time
    divided by the target rate). Theirs above 1 × the budget: the target cannot be met
    on this machine whatever our services do."""
    per_case = use.per_case_ms(cases)
    found = [
        Row(f"{what}, CPU per case: {role}", per_case[role], "ms/case")
        for role, _ in sorted(per_case.items(), key=lambda item: -item[1])
    ]
    return [
        *found,
        Row(
            f"{what}, CPU per case: our services (intake, review, enforcement, notify)",
            use.ours * 1000 / cases,
            "ms/case",
        ),
        Row(
            f"{what}, CPU per case: the wiki farm, Tansu, the gate and the driver, vs all"
            " cores' time per case at the end-to-end target",
            use.theirs * 1000 / cases,
            "ms/case",
            budget_ms,
        ),
        Row(f"{what}: the machine's cores busy", use.busy_share * 100, "%"),
    ]

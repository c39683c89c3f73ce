"""Keeps `make run`'s children alive: a child that exits is started again, after a wait.

Two parts, each testable on its own:

- :class:`Backoff`, the pure policy: the wait before the n-th restart in a row (0.5 s
  doubling up to 30 s), how long a child must stay up for its next crash to count as a
  first one again (a minute), and when a child that keeps dying is worth a loud warning
  (5 restarts in 10 minutes). :class:`History` applies it to one child's crashes.
- :class:`Supervisor`, a loop over :class:`Handle` s (start, stop, exit status of one
  child) that notices an exit, waits, restarts and says so on the console, until its stop
  event is set; after that it restarts nothing. Stopping the children is the caller's job
  (``deploy/run.py`` stops them in reverse start order).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Backoff:
    """When to restart a child that exited, and when to say loudly that it keeps dying."""

    initial: float = 0.5  # the wait after a crash following a healthy run
    factor: float = 2.0  # each further crash in a row multiplies the wait by this
    maximum: float = 30.0  # the wait never grows beyond this
    healthy_after: float = 60.0  # up this long: the next crash is a first one again
    window: float = 600.0  # restarts are counted over this many seconds ...
    loud_after: int = 5  # ... and this many of them in the window is a loud warning

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError("Backoff: 0 < initial <= maximum")
        if self.factor < 1:
            raise ValueError("Backoff: factor must be at least 1")
        if self.healthy_after <= 0 or self.window <= 0 or self.loud_after < 1:
            raise ValueError("Backoff: healthy_after, window and loud_after must be positive")

    def delay(self, crashes: int) -> float:
        """The wait before restarting after the ``crashes``-th crash in a row (1, 2, …)."""
        if crashes < 1:
            raise ValueError("crashes counts from 1")
        try:
            return min(self.maximum, self.initial * self.factor ** (crashes - 1))
        except OverflowError:
            return self.maximum


@dataclass
class History:
    """One child's crashes and restarts under a :class:`Backoff`; times are a monotonic
    clock's seconds, given by the caller."""

    backoff: Backoff
    crashes: int = 0  # in a row: reset by a run of ``healthy_after`` or more
    restarts: deque[float] = field(default_factory=deque)

    def crashed(self, up_for: float) -> float:
        """Record an exit (or a failed start) after ``up_for`` seconds up; return the wait
        before the next start."""
        if up_for >= self.backoff.healthy_after:
            self.crashes = 0
        self.crashes += 1
        return self.backoff.delay(self.crashes)

    def restarted(self, now: float) -> int:
        """Record a restart at ``now``; return how many there were in the window."""
        self.restarts.append(now)
        return self.recent(now)

    def recent(self, now: float) -> int:
        while self.restarts and self.restarts[0] <= now - self.backoff.window:
            self.restarts.popleft()
        return len(self.restarts)

    def keeps_dying(self, now: float) -> bool:
        return self.recent(now) >= self.backoff.loud_after


@dataclass(frozen=True)
class Handle:
    """What the supervisor needs of one child. ``start`` returns once the child is started
    (ready, for children whose start waits for that) or raises; ``stop`` also cleans up
    after a child that already exited; ``exit_code`` is None while the child runs."""

    name: str
    start: Callable[[], None]
    stop: Callable[[], None]
    exit_code: Callable[[], int | None]
    log: Path | None = None


def say(line: str) -> None:
    print(line, flush=True)


def shout(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class _Slot:
    handle: Handle
    history: History
    started_at: float
    due: float | None = None  # when to start it again; None while it is meant to run
    exit_code: int | None = None
    wait: float = 0.0


class Supervisor:
    """Restarts the (already started) children in ``handles`` whenever one exits, until
    ``stop`` is set."""

    def __init__(
        self,
        handles: Sequence[Handle],
        stop: threading.Event,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        out: Callable[[str], None] = say,
        err: Callable[[str], None] = shout,
        poll: float = 0.2,
    ) -> None:
        self.backoff = backoff or Backoff()
        self.stop = stop
        self.clock = clock
        self.out = out
        self.err = err
        self.poll = poll
        now = clock()
        self._slots = [_Slot(h, History(self.backoff), started_at=now) for h in handles]

    def run(self) -> None:
        """Watch the children until ``stop`` is set."""
        while not self.stop.is_set():
            self.step()
            self.stop.wait(self._pause())

    def step(self) -> None:
        """One pass: note every child that exited, restart every one whose wait is over."""
        for slot in self._slots:
            if self.stop.is_set():
                return  # shutting down: nothing is restarted any more
            if slot.due is None:
                code = slot.handle.exit_code()
                if code is not None:
                    self._exited(slot, code)
            elif self.clock() >= slot.due:
                self._restart(slot)

    def waiting(self) -> dict[str, float]:
        """The children waiting to be restarted, each with the time it is due."""
        return {s.handle.name: s.due for s in self._slots if s.due is not None}

    def _exited(self, slot: _Slot, code: int) -> None:
        now = self.clock()
        slot.exit_code = code
        slot.wait = slot.history.crashed(now - slot.started_at)
        slot.due = now + slot.wait
        where = f" (log: {slot.handle.log})" if slot.handle.log else ""
        self.err(f"{slot.handle.name} exited (exit {code}); restarting in {slot.wait:.1f} s{where}")

    def _restart(self, slot: _Slot) -> None:
        name = slot.handle.name
        try:
            slot.handle.stop()  # what is left of the old one: its log, its process group
            slot.handle.start()
        except Exception as exc:
            slot.wait = slot.history.crashed(0.0)
            slot.due = self.clock() + slot.wait
            self.err(f"{name} did not start again ({exc}); next try in {slot.wait:.1f} s")
            return
        now = self.clock()
        slot.started_at = now
        slot.due = None
        count = slot.history.restarted(now)
        minutes = self.backoff.window / 60
        line = (
            f"restarted {name} (exit {slot.exit_code}) after {slot.wait:.1f} s; "
            f"{count} restart{'' if count == 1 else 's'} in the last {minutes:g} min"
        )
        if not slot.history.keeps_dying(now):
            self.out(line)
            return
        self.err(
            f"WARNING: {line}\n"
            f"WARNING: {name} KEEPS DYING; still retrying, up to every "
            f"{self.backoff.maximum:g} s. {_tail(slot.handle.log)}"
        )

    def _pause(self) -> float:
        due = [s.due for s in self._slots if s.due is not None]
        if not due:
            return self.poll
        return max(0.0, min(self.poll, min(due) - self.clock()))


def _tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return "It left no log."
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"The end of {log}:\n" + "\n".join(f"  | {line}" for line in text)

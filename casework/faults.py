"""Crash points for the crash-recovery tests.

A process started with CASEWORK_CRASH_AT=name[,name…] kills itself with SIGKILL
when it reaches a named point: no cleanup, no flush, like a power cut. Unset in
normal runs, where every call is a cheap no-op.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)
VARIABLE = "CASEWORK_CRASH_AT"


def crash_point(name: str) -> None:
    armed = os.environ.get(VARIABLE)
    if armed and name in armed.split(","):
        log.warning("crash point %s reached: killing process %d", name, os.getpid())
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)

"""The objects a service builds at start-up (modules, the policy, schemas, the app) live as
long as the process. Frozen out of the collector's generations once start-up is done, each
full collection no longer walks them again: shorter pauses on every request and event (the
review queue's p99 at 100,000 cases fell from 29-48 ms to 14-35 ms, bench/queue.py)."""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect what start-up left behind, then freeze the rest; how many objects froze."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()

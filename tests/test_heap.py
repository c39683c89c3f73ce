"""Start-up objects frozen out of the collector (casework/heap.py), garbage collected first."""

from __future__ import annotations

import gc
import weakref

from casework import heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settle_collects_start_up_garbage_then_freezes_what_lives() -> None:
    kept = [_Node() for _ in range(100)]
    cycle_a, cycle_b = _Node(), _Node()
    cycle_a.other, cycle_b.other = cycle_b, cycle_a  # garbage only a collection frees
    dead = weakref.ref(cycle_a)
    del cycle_a, cycle_b
    try:
        frozen = heap.settle()
        assert dead() is None  # collected, not frozen
        assert frozen == gc.get_freeze_count() >= len(kept)
        # What lives is out of the generations a collection walks.
        assert not any(o is kept or o is kept[0] for o in gc.get_objects())
    finally:
        gc.unfreeze()

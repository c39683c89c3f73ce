"""Which cases this instance owns: the partitions its consumer holds, keyed by case id.

Every event is keyed by its case id, so a case's events all land in one partition number
(the producer's default partitioner, murmur2 of the key), and a range assignor hands
partition *p* of every consumed topic to the same group member. The member holding *p*
therefore handles every event of the cases in *p*; duties that act on cases (resuming
unfinished enforcements, re-sending interrupted emails) ask ``owns(case_id)`` so that the
same instance does them, under the same in-process per-case locks, and never another.

On a rebalance the revoked partitions stop being owned at once; the revocation then waits
for work already started on them (``working``) to finish before the group moves on, so
the next owner never overlaps with this one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from aiokafka import TopicPartition
from aiokafka.partitioner import murmur2

log = logging.getLogger("casework.kafka")


def partition_of(key: str, partitions: int) -> int:
    """The partition the producer's default partitioner gives ``key`` among ``partitions``."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class NotOwned(Exception):
    """The case's partition is not (or no longer) assigned to this instance."""


class Ownership:
    def __init__(self, revoke_timeout: float = 30.0) -> None:
        self._owned: set[int] = set()
        self._partitions = 0  # partition count of the consumed topics, once known
        self._busy: Counter[int] = Counter()
        self._idle = asyncio.Condition()
        self._revoke_timeout = revoke_timeout
        self.generation = 0  # assignments seen; tests and metrics read it

    @property
    def partitions(self) -> frozenset[int]:
        return frozenset(self._owned)

    def owns(self, case_id: str) -> bool:
        if not self._partitions:
            return False
        return partition_of(case_id, self._partitions) in self._owned

    @asynccontextmanager
    async def working(self, case_id: str) -> AsyncIterator[None]:
        """Hold the case's partition while working on it; NotOwned if it is not ours."""
        if not self.owns(case_id):
            raise NotOwned(case_id)
        async with self.handling(partition_of(case_id, self._partitions)):
            yield

    @asynccontextmanager
    async def handling(self, partition: int) -> AsyncIterator[None]:
        """Count work in progress on ``partition``; its revocation waits for it."""
        self._busy[partition] += 1
        try:
            yield
        finally:
            self._busy[partition] -= 1
            async with self._idle:
                self._idle.notify_all()

    def assigned(self, assigned: Iterable[TopicPartition], partition_count: int) -> None:
        self._partitions = partition_count
        self._owned |= {tp.partition for tp in assigned}
        self.generation += 1
        log.info("owned partitions now %s of %d", sorted(self._owned), partition_count)

    async def revoked(self, revoked: Iterable[TopicPartition]) -> None:
        gone = {tp.partition for tp in revoked}
        self._owned -= gone
        try:
            async with asyncio.timeout(self._revoke_timeout):
                async with self._idle:
                    await self._idle.wait_for(lambda: not any(self._busy[p] for p in gone))
        except TimeoutError:
            log.warning("partitions %s revoked while work on them is still running", gone)

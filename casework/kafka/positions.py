"""A consumer's position checks: a topic recreated under it is read again from its start.

A topic deleted and recreated on a broker that kept running leaves a client's fetch
position where it was, and its commits succeed: without these checks, the new topic's
records below that position would be skipped. Every ``position_check_seconds`` the
record last handled on each partition is read back (``casework.kafka.readback``); a loss
is kept in ``rewind`` for the consumer's poll loop, which reads that topic again.
"""

from __future__ import annotations

import logging

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from casework.kafka.publisher import Sent
from casework.kafka.readback import Loss, ReadBack

log = logging.getLogger("casework.kafka")


class Positions:
    def __init__(self, group_id: str) -> None:
        self._group_id = group_id
        # Per partition, the last record handled, and the one the next position check
        # reads back: the last one as of the previous check (or the first one handled
        # since, if there was none). Reading back only the newest could miss a topic
        # recreated with more records than the position: the newest was read from it.
        self.marks: dict[TopicPartition, Sent] = {}
        self.to_verify: dict[TopicPartition, Sent] = {}
        self.rewind: Loss | None = None  # a lost topic to read again from its start

    def handled(self, tp: TopicPartition, last: Sent) -> None:
        self.marks[tp] = last
        self.to_verify.setdefault(tp, last)

    def drop(self, tp: TopicPartition) -> None:
        """A partition revoked: its next owner reads it back."""
        self.marks.pop(tp, None)
        self.to_verify.pop(tp, None)

    def forget(self, topic: str) -> None:
        """A topic about to be read again from its start."""
        for marks in (self.marks, self.to_verify):
            for tp in [tp for tp in marks if tp.topic == topic]:
                del marks[tp]

    async def check(self, readback: ReadBack) -> None:
        """One check, unless the loss found by the last one is not acted on yet."""
        if self.rewind is not None:
            return
        checking = dict(self.to_verify)
        try:
            loss = await readback.find_loss(checking)
        except KafkaError as exc:
            log.debug("consumer group=%s position check skipped: %r", self._group_id, exc)
            return
        self.rewind = loss
        if loss is None:
            for tp, mark in checking.items():
                if self.to_verify.get(tp) == mark:  # not dropped meanwhile
                    self.to_verify[tp] = self.marks.get(tp) or mark

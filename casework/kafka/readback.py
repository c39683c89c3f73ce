"""Read back, per topic-partition, the record a client last wrote or handled there, to
learn whether the bus still holds it.

The bus lost data when the topic or partition is gone, the offset is out of range or
holds nothing any more (on two checks in a row: a slow broker answers nothing too), or
the record there has another event id (a broker with memory storage restarted, a topic
deleted and recreated, an unclean leader election truncated a partition). Used by the
producers' bus watch (``casework.kafka.watch``) for what they published, and by each
consumer for what it handled (``casework.kafka.consumer``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from casework.kafka.publisher import Sent
from casework.kafka.settings import KafkaSettings

log = logging.getLogger("casework.kafka")


def event_id_of(record: Any) -> str:
    """The record's CloudEvent id header, as marks keep it ("" if none)."""
    raw = dict(record.headers or ()).get("ce_id", b"")
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""


@dataclass(frozen=True)
class Loss:
    """Where the bus no longer holds a marked record, and how."""

    tp: TopicPartition
    reason: str


class ReadBack:
    """A group-less reader of single records (its own client, started on first use)."""

    def __init__(self, settings: KafkaSettings, *, name: str, fetch_timeout: float = 2.0) -> None:
        self._settings = settings
        self._name = name
        self._fetch_timeout_ms = int(fetch_timeout * 1000)
        self._reader: AIOKafkaConsumer | None = None
        self._missing: tuple[TopicPartition, int] | None = None  # found missing last time

    async def find_loss(self, marks: dict[TopicPartition, Sent]) -> Loss | None:
        """The first marked record the bus no longer holds, or None. Raises KafkaError
        when the broker does not answer (which says nothing either way); the reader is
        then closed and started anew next time."""
        if not marks:
            return None
        try:
            return await self._find_loss(marks)
        except KafkaError:
            await self.close()
            raise

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                await reader.stop()
            except KafkaError as exc:  # pragma: no cover - closing a dead connection
                log.debug("%s reader close: %r", self._name, exc)

    async def _find_loss(self, marks: dict[TopicPartition, Sent]) -> Loss | None:
        reader = await self._started()
        try:
            return await self._read_marks(reader, marks)
        finally:
            # Left assigned, the reader's fetcher would go on fetching every partition
            # from the mark onward until the next check seeks back and drops it all.
            reader.unsubscribe()

    async def _read_marks(
        self, reader: AIOKafkaConsumer, marks: dict[TopicPartition, Sent]
    ) -> Loss | None:
        client: Any = getattr(reader, "_client")  # noqa: B009 - aiokafka keeps it private
        cluster: Any = await client.fetch_all_metadata()
        for tp in marks:
            if tp.partition not in (cluster.partitions_for_topic(tp.topic) or set()):
                return Loss(tp, f"{tp.topic}[{tp.partition}] is gone")
        reader.assign(list(marks))
        for tp, mark in marks.items():
            reader.seek(tp, mark.offset)
        for tp, mark in marks.items():
            where = f"{tp.topic}[{tp.partition}]@{mark.offset}"
            records = []
            for _ in range(2):  # an empty answer may only be slow: ask once more
                try:
                    batch = await reader.getmany(
                        tp, timeout_ms=self._fetch_timeout_ms, max_records=1
                    )
                except OffsetOutOfRangeError:
                    return Loss(tp, f"{where} is out of range")
                records = batch.get(tp, [])
                if records:
                    break
            if not records:
                # Ambiguous (a slow broker answers nothing too): a loss only when the
                # previous check found the same record missing.
                missing = (tp, mark.offset)
                if self._missing == missing:
                    return Loss(tp, f"{where} holds no record")
                self._missing = missing
                return None
            record = records[0]
            found = event_id_of(record)
            if record.offset != mark.offset or found != mark.event_id:
                return Loss(
                    tp, f"{where} holds another event ({found or 'none'}, not {mark.event_id})"
                )
        self._missing = None
        return None

    async def _started(self) -> AIOKafkaConsumer:
        if self._reader is None:
            s = self._settings
            reader = AIOKafkaConsumer(
                bootstrap_servers=s.bootstrap_servers,
                client_id=f"{s.client_id}-{self._name}",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="none",  # out of range must raise, not jump
                request_timeout_ms=s.request_timeout_ms,
                fetch_max_wait_ms=s.fetch_max_wait_ms,
                max_partition_fetch_bytes=s.max_partition_fetch_bytes,
                **s.client_options(),
            )
            try:
                await reader.start()
            except BaseException:
                await reader.stop()
                raise
            self._reader = reader
        return self._reader

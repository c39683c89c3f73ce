"""Notice that the bus lost what this instance published, so that it is published again.

The publisher remembers, per topic-partition, the offset and event id of the last event
the broker acknowledged there (``EventPublisher.sent``). Every ``interval`` seconds the
watch fetches each of those records back. The bus lost data when the topic or partition
is gone, the offset is out of range or holds nothing any more (on two checks in a row: a
slow broker answers nothing too), or the record there has another event id: a broker
with memory storage restarted, a topic was deleted and recreated, an unclean leader
election truncated a partition. Then the watch recreates the
topics (``ensure_topics``, with the service's partition count) and calls ``on_loss``,
which asks the outbox relay to publish its retained history again.

It runs with the outbox relay, on the instance holding the relay's lease: that instance
is the one that publishes, so its memory of what it sent is the one that counts. With a
``marks`` store that memory outlives the instance: the watch saves it there after each
check and a new lease holder starts from it, so a broker that lost its data while the
lease moved (the old holder killed, the new one not yet published anything, or published
only to the empty broker) is still noticed. A broker that does not answer says nothing
either way: the check is skipped until it answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from casework.kafka.admin import ensure_topics
from casework.kafka.publisher import EventPublisher, Sent
from casework.kafka.settings import KafkaSettings
from casework.store import DocumentStore, StoreError

log = logging.getLogger("casework.kafka")

MARKS = "bus_marks"  # one document: the last record published to each partition
_MARKS_ID = "published"

OnLoss = Callable[[str], None]


class BusWatch:
    def __init__(
        self,
        settings: KafkaSettings,
        publisher: EventPublisher,
        *,
        topics: list[str],
        on_loss: OnLoss,
        partitions: int = 4,
        replication: int = 1,
        interval: float = 2.0,
        fetch_timeout: float = 2.0,
        marks: DocumentStore | None = None,
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._topics = list(topics)
        self._on_loss = on_loss
        self._partitions = partitions
        self._replication = replication
        self._interval = interval
        self._fetch_timeout_ms = int(fetch_timeout * 1000)
        self._reader: AIOKafkaConsumer | None = None
        self._missing: tuple[TopicPartition, int] | None = None  # found missing last time
        self._marks = marks
        self._saved: dict[TopicPartition, Sent] | None = None  # as last saved to ``marks``
        self.checks = 0  # checks that got an answer
        self.losses = 0  # losses noticed
        self.last_loss: str | None = None

    async def run(self) -> None:
        """Check every ``interval`` seconds until cancelled (first taking over the marks
        the previous lease holder saved)."""
        try:
            await self.inherit()
            while True:
                await asyncio.sleep(self._interval)
                try:
                    if await self.check_and_recover() is not None:
                        # Saved from the next check on: the marks of before the loss stay
                        # meanwhile, so a holder that takes over mid-replay replays again.
                        continue
                except KafkaError as exc:  # recreating the topics failed: next time
                    log.warning("bus check failed: %r", exc)
                await self.save()
        finally:
            await self.close()

    async def inherit(self) -> None:
        """Add the saved marks to the publisher's: per partition the higher offset (a mark
        below what this instance published since is stale; one above it may be a record
        the broker lost, published by the previous lease holder)."""
        if self._marks is None:
            return
        try:
            doc = await self._marks.get(MARKS, _MARKS_ID)
        except StoreError as exc:
            log.warning("bus marks not read: %r", exc)
            return
        sent = self._publisher.sent
        for topic, partition, offset, event_id in (doc or {}).get("sent", []):
            tp = TopicPartition(str(topic), int(partition))
            if tp not in sent or sent[tp].offset < int(offset):
                sent[tp] = Sent(int(offset), str(event_id))
        if doc is not None:
            log.info("bus marks taken over: %d partitions", len(doc.get("sent", [])))

    async def save(self) -> None:
        """Store the publisher's marks if they changed since last saved; a failure is
        retried after the next check."""
        sent = dict(self._publisher.sent)
        if self._marks is None or sent == self._saved:
            return
        marks = sorted([tp.topic, tp.partition, m.offset, m.event_id] for tp, m in sent.items())
        try:
            doc = await self._marks.get(MARKS, _MARKS_ID)
            if doc is None:
                await self._marks.insert(MARKS, {"_id": _MARKS_ID, "sent": marks})
            else:
                await self._marks.replace(
                    MARKS,
                    {"_id": _MARKS_ID, "sent": marks},
                    expected_version=doc["_version"],
                )
        except StoreError as exc:  # a conflict too: another holder wrote them meanwhile
            log.info("bus marks not saved: %r", exc)
            return
        self._saved = sent

    async def check_and_recover(self) -> str | None:
        """One check; on a loss recreate the topics and call ``on_loss``. The reason, or
        None when nothing was lost (or the broker did not answer)."""
        reason = await self.check()
        if reason is None:
            return None
        log.warning(
            "the bus lost published events (%s): recreating topics, replaying the outbox", reason
        )
        await ensure_topics(  # a failure leaves everything as it was: the next check retries
            self._settings,
            self._topics,
            partitions=self._partitions,
            replication=self._replication,
        )
        self.losses += 1
        self.last_loss = reason
        self._publisher.sent.clear()  # the replay publishes them again and remembers anew
        self._on_loss(reason)
        return reason

    async def check(self) -> str | None:
        """Why the bus no longer holds what was published, or None."""
        sent = dict(self._publisher.sent)
        if not sent:
            return None
        try:
            reason = await self._find_loss(sent)
        except KafkaError as exc:
            log.info("bus check skipped, the broker did not answer: %r", exc)
            await self.close()
            return None
        self.checks += 1
        return reason

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                await reader.stop()
            except KafkaError as exc:  # pragma: no cover - closing a dead connection
                log.debug("bus watch reader close: %r", exc)

    async def _find_loss(self, sent: dict[TopicPartition, Sent]) -> str | None:
        reader = await self._started()
        client: Any = getattr(reader, "_client")  # noqa: B009 - aiokafka keeps it private
        cluster: Any = await client.fetch_all_metadata()
        for tp in sent:
            if tp.partition not in (cluster.partitions_for_topic(tp.topic) or set()):
                return f"{tp.topic}[{tp.partition}] is gone"
        reader.assign(list(sent))
        for tp, mark in sent.items():
            reader.seek(tp, mark.offset)
        for tp, mark in sent.items():
            where = f"{tp.topic}[{tp.partition}]@{mark.offset}"
            records = []
            for _ in range(2):  # an empty answer may only be slow: ask once more
                try:
                    batch = await reader.getmany(
                        tp, timeout_ms=self._fetch_timeout_ms, max_records=1
                    )
                except OffsetOutOfRangeError:
                    return f"{where} is out of range"
                records = batch.get(tp, [])
                if records:
                    break
            if not records:
                # Ambiguous (a slow broker answers nothing too): a loss only when the
                # previous check found the same record missing.
                missing = (tp, mark.offset)
                if self._missing == missing:
                    return f"{where} holds no record"
                self._missing = missing
                return None
            record = records[0]
            found = dict(record.headers).get("ce_id", b"").decode("utf-8", "replace")
            if record.offset != mark.offset or found != mark.event_id:
                return f"{where} holds another event ({found or 'none'}, not {mark.event_id})"
        self._missing = None
        return None

    async def _started(self) -> AIOKafkaConsumer:
        if self._reader is None:
            s = self._settings
            reader = AIOKafkaConsumer(
                bootstrap_servers=s.bootstrap_servers,
                client_id=f"{s.client_id}-bus-watch",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="none",  # out of range must raise, not jump
                request_timeout_ms=s.request_timeout_ms,
                fetch_max_wait_ms=s.fetch_max_wait_ms,
                **s.client_options(),
            )
            try:
                await reader.start()
            except BaseException:
                await reader.stop()
                raise
            self._reader = reader
        return self._reader

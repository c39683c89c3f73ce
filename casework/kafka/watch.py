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

import logging
from collections.abc import Callable

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from casework.kafka.admin import ensure_topics
from casework.kafka.publisher import EventPublisher, Sent
from casework.kafka.readback import ReadBack
from casework.kafka.settings import KafkaSettings
from casework.periodic import every
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
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._topics = list(topics)
        self._on_loss = on_loss
        self._partitions = partitions
        self._replication = replication
        self._interval = interval
        self._readback = ReadBack(settings, name="bus-watch", fetch_timeout=fetch_timeout)
        self._marks = marks
        self._registry = registry
        self._saved: dict[TopicPartition, Sent] | None = None  # as last saved to ``marks``
        self.checks = 0  # checks that got an answer
        self.losses = 0  # losses noticed
        self.last_loss: str | None = None

    async def run(self) -> None:
        """Check every ``interval`` seconds until cancelled (first taking over the marks
        the previous lease holder saved)."""
        try:
            await self.inherit()
            duty = every(
                "bus-watch",
                self._interval,
                self._check_and_save,
                registry=self._registry,
                first_after=self._interval,
            )
            await duty()
        finally:
            await self.close()

    async def _check_and_save(self) -> None:
        try:
            if await self.check_and_recover() is not None:
                # Saved from the next check on: the marks of before the loss stay
                # meanwhile, so a holder that takes over mid-replay replays again.
                return
        except KafkaError as exc:  # recreating the topics failed: next time
            log.warning("bus check failed: %r", exc)
        await self.save()

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
            loss = await self._readback.find_loss(sent)
        except KafkaError as exc:
            log.info("bus check skipped, the broker did not answer: %r", exc)
            return None
        self.checks += 1
        return None if loss is None else loss.reason

    async def close(self) -> None:
        await self._readback.close()

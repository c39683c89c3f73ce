"""At-least-once producer of CloudEvents."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from casework.cloudevents import CloudEvent, to_kafka
from casework.kafka.settings import KafkaSettings, retrying

log = logging.getLogger("casework.kafka")


@dataclass(frozen=True)
class Sent:
    """The last event acknowledged on a partition: where the broker put it."""

    offset: int
    event_id: str


class EventPublisher:
    """``publish`` returns once the broker acknowledged the record (acks=all).

    ``sent`` remembers, per topic-partition, the offset and event id of the last event
    acknowledged there (``casework.kafka.watch`` reads it back to notice a bus that lost
    data). Dead letters (``publish_raw``) are not remembered.
    """

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self.sent: dict[TopicPartition, Sent] = {}

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=self._settings.client_id,
            acks="all",
            # Tansu rejects InitProducerId v0, so no idempotent/transactional producer.
            enable_idempotence=False,
            request_timeout_ms=self._settings.request_timeout_ms,
            **self._settings.client_options(),
        )
        async for attempt in retrying(self._settings, "producer start"):
            with attempt:
                await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        """Flush pending records and close the connection."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.flush()
            finally:
                await producer.stop()

    async def ping(self) -> None:
        """Health check: raise unless the broker answers a metadata request."""
        producer = self._started()
        async with asyncio.timeout(self._settings.request_timeout_ms / 1000):
            await producer.client.fetch_all_metadata()

    async def publish(self, topic: str, event: CloudEvent) -> None:
        """Send ``event`` keyed by its subject and wait for the broker's acknowledgement."""
        key, value, headers = to_kafka(event)
        self._remember(event, await self.publish_raw(topic, key, value, headers))
        log.debug("published topic=%s event_id=%s event_type=%s", topic, event.id, event.type)

    async def publish_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
    ) -> Any:
        """Send a record as-is (dead letters); retries transient errors. Returns the
        broker's RecordMetadata."""
        producer = self._started()
        async for attempt in retrying(self._settings, f"publish to {topic}"):
            with attempt:
                return await producer.send_and_wait(topic, value, key=key, headers=list(headers))
        raise AssertionError("unreachable")

    async def publish_many(
        self, items: Sequence[tuple[str, CloudEvent]]
    ) -> list[BaseException | None]:
        """Hand every record to the producer in order, then await all acknowledgements.

        One result per item: None when acknowledged, else the error; the caller retries
        (the outbox relay re-sends from the first failure). Order per partition is the
        order given.
        """
        producer = self._started()
        pending: list[asyncio.Future[Any] | BaseException] = []
        for topic, event in items:
            key, value, headers = to_kafka(event)
            try:
                pending.append(await producer.send(topic, value, key=key, headers=list(headers)))
            except Exception as exc:  # the accumulator refused it (e.g. record too large)
                pending.append(exc)
        results: list[BaseException | None] = []
        for (_, event), outcome in zip(items, pending, strict=True):
            if isinstance(outcome, BaseException):
                results.append(outcome)
                continue
            try:
                self._remember(event, await outcome)
                results.append(None)
            except Exception as exc:
                results.append(exc)
        return results

    def _remember(self, event: CloudEvent, metadata: Any) -> None:
        tp = TopicPartition(metadata.topic, metadata.partition)
        last = self.sent.get(tp)
        if last is None or metadata.offset >= last.offset:
            self.sent[tp] = Sent(int(metadata.offset), event.id)

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("EventPublisher.start() was not called")
        return self._producer

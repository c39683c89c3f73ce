"""Topic creation."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from casework.kafka.settings import KafkaSettings, retrying

log = logging.getLogger("casework.kafka")

_TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno


async def ensure_topics(
    settings: KafkaSettings, topics: Iterable[str], partitions: int = 4, replication: int = 1
) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are.

    Needed even though Tansu auto-creates a topic on first use: only this gives
    it the intended partition count before any service relies on it.
    """
    wanted = list(dict.fromkeys(topics))
    async for attempt in retrying(settings, "ensure_topics"):
        with attempt:
            await _create_missing(settings, wanted, partitions, replication)


async def _create_missing(
    settings: KafkaSettings, topics: list[str], partitions: int, replication: int
) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-admin",
        request_timeout_ms=settings.request_timeout_ms,
        **settings.client_options(),
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, partitions, replication) for t in topics if t not in existing]
        if not missing:
            return
        try:
            response = await admin.create_topics(missing)
        except TopicAlreadyExistsError:
            return  # another service created them meanwhile
        # Tansu answers an existing topic with error 36 in the response, not an exception.
        for topic, code, message in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise KafkaError(f"create topic {topic}: error {code} {message}")
        log.info("created topics %s", [t.name for t in missing])
    finally:
        await admin.close()

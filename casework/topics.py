"""Create every topic the services use, then exit: ``python -m casework.topics``.

Each service's topic and its dead-letter topic, with ``KAFKA_TOPIC_PARTITIONS`` partitions
and ``KAFKA_REPLICATION_FACTOR`` replicas (the same settings every service reads, so there
is one place for them). Services also create missing topics at start-up with the same
settings; running this first (a Kubernetes Job, a compose one-shot) means no service ever
meets a topic auto-created by the broker with other counts. Existing topics are left as
they are.
"""

from __future__ import annotations

import asyncio
import sys
from typing import ClassVar

from pydantic import Field

from casework.config import ConfigError, ServiceSettings, load_settings
from casework.kafka import ensure_topics
from casework.runtime import all_topics, configure_logging


class TopicSettings(ServiceSettings):
    SERVICE: ClassVar[str] = "topics"
    port: int = Field(8080, ge=1, le=65535)  # unused: this command serves nothing


async def create_topics(settings: ServiceSettings) -> list[str]:
    topics = all_topics()
    await ensure_topics(
        settings.kafka(),
        topics,
        partitions=settings.kafka_partitions,
        replication=settings.kafka_replication,
    )
    return topics


def main() -> None:
    configure_logging()
    try:
        settings = load_settings(TopicSettings)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    topics = asyncio.run(create_topics(settings))
    print(
        f"{len(topics)} topics present with {settings.kafka_partitions} partitions, "
        f"replication {settings.kafka_replication}: {', '.join(topics)}",
        flush=True,
    )


if __name__ == "__main__":
    main()

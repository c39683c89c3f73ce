"""aiokafka plumbing shared by every service: settings, topics, publisher, consumer.

Delivery is at-least-once: a publish returns once the broker acknowledged it
(acks=all), and a consumer commits a record's offset only after its handler
returned. Handlers must therefore be idempotent (e.g. keyed on the event id).

A record that can never be handled (undecodable, invalid, or refused with
``PermanentError``) and one whose handler keeps failing after the bounded
retries is copied to the dead-letter topic with ``dlq_*`` headers, then
committed, so one bad record never blocks its partition.
"""

from casework.kafka.admin import ensure_topics
from casework.kafka.consumer import EventConsumer, Handler
from casework.kafka.dead_letters import DeadLetter, DeadLetterCallback, PermanentError
from casework.kafka.publisher import EventPublisher
from casework.kafka.settings import KafkaSettings, is_transient

__all__ = [
    "DeadLetter",
    "DeadLetterCallback",
    "EventConsumer",
    "EventPublisher",
    "Handler",
    "KafkaSettings",
    "PermanentError",
    "ensure_topics",
    "is_transient",
]

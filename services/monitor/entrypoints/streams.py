"""The faust-streaming app: one agent reading every service topic and dead-letter topic.

An entrypoint, not an adapter: like an HTTP route it is how work comes in, calling the
use case (``Tracker.on_record``) for each record; adapters are what use cases call out to.

Configured for what the broker supports: at-least-once (no transactions, so no
idempotent producer), ``earliest`` offsets, the service's session timeout.

State after a restart (``MONITOR_STATE_RECOVERY``):
- ``rebuild`` (Tansu, the default): each start joins a new consumer group, so it
  re-reads every source topic from its first offset and folds the views afresh.
  Tansu's ListOffsets(latest) under-reports end offsets, which would make faust's
  changelog recovery stop early and lose records.
- ``changelog`` (a real Kafka cluster): a stable group resumes from its committed
  offsets and a faust Table keeps each record read, recovered from its changelog
  topic on start and folded into the views before new records arrive.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from casework.kafka import KafkaSettings
from services.monitor.settings import GROUP_PREFIX

log = logging.getLogger(__name__)

OnRecord = Callable[
    [str, int, int, bytes | None, bytes | None, Sequence[tuple[str, bytes]]], Awaitable[None]
]


def group_id(state_recovery: str) -> str:
    if state_recovery == "changelog":
        return GROUP_PREFIX
    return f"{GROUP_PREFIX}-rebuild-{uuid.uuid4().hex[:12]}"


def broker_credentials(kafka: KafkaSettings) -> faust.types.auth.CredentialsT | None:
    """faust's form of the bus settings: SASL (with TLS if set), TLS alone, or none."""
    if kafka.uses_sasl:
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password,
            mechanism=kafka.sasl_mechanism,
            ssl_context=kafka.ssl_context(),
        )
    context = kafka.ssl_context()
    return faust.SSLCredentials(context) if context is not None else None


def build_app(
    *,
    kafka: KafkaSettings,
    topics: list[str],
    on_record: OnRecord,
    state_recovery: str,
    session_timeout_s: float,
    partitions: int,
    data_dir: str,
    replication: int = 1,
) -> faust.App:
    app = faust.App(
        group_id(state_recovery),
        broker=[f"kafka://{host}" for host in kafka.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(kafka),
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session_timeout_s,
        broker_heartbeat_interval=session_timeout_s / 5,
        producer_acks=-1,
        topic_disable_leader=True,
        topic_partitions=partitions,
        topic_replication_factor=replication,
        table_standby_replicas=0,
        datadir=data_dir,
    )
    source = app.topic(*topics, key_serializer="raw", value_serializer="raw")
    records: Any = None
    if state_recovery == "changelog":
        records = app.Table("monitor-records", default=None, partitions=partitions)

        async def fold_recovered() -> None:
            for stored in list(records.values()):
                if stored is not None:
                    await on_record(*_unpack(stored))

        records.on_recover(fold_recovered)

    @app.agent(source)
    async def monitor(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            headers = list(message.headers or ())
            args = (message.topic, message.partition, message.offset, event.key, event.value)
            await on_record(*args, headers)
            if records is not None:
                records[f"{message.topic}:{message.partition}:{message.offset}"] = _pack(
                    *args, headers
                )

    return app


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _pack(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
) -> dict[str, Any]:
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": _b64(key),
        "value": _b64(value),
        "headers": [[name, _b64(raw)] for name, raw in headers],
    }


def _unpack(
    stored: dict[str, Any],
) -> tuple[str, int, int, bytes | None, bytes | None, list[tuple[str, bytes]]]:
    return (
        stored["topic"],
        stored["partition"],
        stored["offset"],
        _unb64(stored["key"]),
        _unb64(stored["value"]),
        [(name, _unb64(raw) or b"") for name, raw in stored["headers"]],
    )

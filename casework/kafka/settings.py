"""Connection, group and retry settings, and the retry policy built from them."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.helpers import create_ssl_context
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

log = logging.getLogger("casework.kafka")

SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    client_id: str = "casework"
    # How long the group waits for a member that stopped heartbeating (one SIGKILLed):
    # on Tansu a restarted member is assigned about this long after the kill, plus ~2 s.
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 0  # 0: a third of session_timeout_ms
    rebalance_timeout_ms: int = 0  # 0: session_timeout_ms (how long a rebalance waits)
    # Static membership (KIP-345) for a real Kafka cluster: a member that restarts with
    # the same id takes its place back without a rebalance. Off (None) on Tansu, whose
    # JoinGroup and SyncGroup then hold for seconds each (measured: 8-10 s to assignment).
    group_instance_id: str | None = None
    # Handlers running at once for one consumer, across cases (one case's in order).
    handler_concurrency: int = 32
    request_timeout_ms: int = 30_000
    max_poll_records: int = 100
    # How long the broker may hold a fetch that has nothing yet. Tansu holds it for the
    # whole wait even when a record arrives meanwhile, so this bounds the latency of an
    # idle consumer (aiokafka's default 500 ms put the benchmark's p99 near 400 ms).
    fetch_max_wait_ms: int = 50
    # What one fetch may bring per partition. aiokafka's 1 MiB per partition, across a
    # consumer's dozen partitions, held 60 MB of fetched records in notify while it lagged
    # behind a flood (its RSS then stays at that high-water mark); a handler takes
    # max_poll_records at a time anyway.
    max_partition_fetch_bytes: int = 262_144
    # aiokafka retries a failing offset commit for ever (UnknownTopicOrPartition after a
    # broker lost its topics); past this the consumer is rebuilt instead.
    commit_timeout_ms: int = 3_000
    # Every this many seconds a consumer reads back the last record it handled on each
    # partition; gone or another one (the topic was recreated, the broker lost its data):
    # the partition is read again from its start. 0: never.
    position_check_seconds: float = 2.0
    retry_max_attempts: int = 5
    retry_initial_backoff_ms: int = 100
    retry_max_backoff_ms: int = 5_000
    # Bus authentication and encryption (README "Bus authentication").
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def __post_init__(self) -> None:
        if self.heartbeat_interval_ms <= 0:
            object.__setattr__(self, "heartbeat_interval_ms", self.session_timeout_ms // 3)
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be below session_timeout_ms")
        if self.rebalance_timeout_ms <= 0:
            object.__setattr__(self, "rebalance_timeout_ms", self.session_timeout_ms)
        if self.handler_concurrency < 1:
            raise ValueError("handler_concurrency must be at least 1")
        if self.retry_max_attempts < 1:
            raise ValueError("retry_max_attempts must be at least 1")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}")
        if self.uses_sasl:
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise ValueError(f"sasl_mechanism must be one of {', '.join(SASL_MECHANISMS)}")
            if not self.sasl_username or not self.sasl_password:
                raise ValueError(f"{self.security_protocol} needs a SASL username and password")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for SSL/SASL_SSL (the CA file, else the system's CAs), else None."""
        if not self.uses_tls:
            return None
        context: ssl.SSLContext = create_ssl_context(
            cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
        )
        return context

    def client_options(self) -> dict[str, Any]:
        """Security keyword arguments for any aiokafka client (producer, consumer, admin)."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.uses_sasl:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        return options

    def backoff_seconds(self, attempt: int) -> float:
        """Delay after failed attempt number ``attempt`` (1-based), doubling up to the max."""
        delay_ms = self.retry_initial_backoff_ms * (1 << max(attempt - 1, 0))
        return min(delay_ms, self.retry_max_backoff_ms) / 1000


def is_transient(exc: BaseException) -> bool:
    """Kafka errors worth retrying: connection loss, timeouts, leadership changes."""
    if isinstance(exc, KafkaTimeoutError):
        return True
    return isinstance(exc, KafkaError) and bool(exc.retriable)


def retrying(settings: KafkaSettings, what: str) -> AsyncRetrying:
    """Bounded exponential-backoff retries of transient Kafka errors; others raise at once."""

    def log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s failed (attempt %d), retrying: %r", what, state.attempt_number, exc)

    return AsyncRetrying(
        stop=stop_after_attempt(settings.retry_max_attempts),
        wait=wait_exponential(
            multiplier=settings.retry_initial_backoff_ms / 1000,
            max=settings.retry_max_backoff_ms / 1000,
        ),
        retry=retry_if_exception(is_transient),
        before_sleep=log_retry,
        reraise=True,
    )

"""Connection, group and retry settings, and the retry policy built from them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.errors import KafkaError, KafkaTimeoutError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

log = logging.getLogger("casework.kafka")


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    client_id: str = "casework"
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 0  # 0: a third of session_timeout_ms
    request_timeout_ms: int = 30_000
    max_poll_records: int = 100
    # How long the broker may hold a fetch that has nothing yet. Tansu holds it for the
    # whole wait even when a record arrives meanwhile, so this bounds the latency of an
    # idle consumer (aiokafka's default 500 ms put the benchmark's p99 near 400 ms).
    fetch_max_wait_ms: int = 50
    retry_max_attempts: int = 5
    retry_initial_backoff_ms: int = 100
    retry_max_backoff_ms: int = 5_000

    def __post_init__(self) -> None:
        if self.heartbeat_interval_ms <= 0:
            object.__setattr__(self, "heartbeat_interval_ms", self.session_timeout_ms // 3)
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be below session_timeout_ms")
        if self.retry_max_attempts < 1:
            raise ValueError("retry_max_attempts must be at least 1")

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

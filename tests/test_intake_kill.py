"""Intake killed between storing a submission and publishing its event: still exactly one.

Real parts: intake started as `python -m services.intake` (SQLite file store), SIGKILLed by
its own crash point, restarted; the Tansu broker; the topic read back from the start.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from casework.contract import SubmissionKind
from deploy.broker import TansuBroker
from deploy.stack import Ports, ServiceProcess, service_environment
from tests.support import eventually, free_port
from tests.test_intake_api import EXAMPLES, Intake, events_about

CRASH_POINT = "intake.after-store"


@pytest.fixture
def broker() -> Iterator[TansuBroker]:
    running = TansuBroker(free_port())
    running.start()
    try:
        yield running
    finally:
        running.stop()


def intake_process(broker: TansuBroker, data_dir: Path, extra: dict[str, str]) -> ServiceProcess:
    ports = Ports(intake=free_port(), broker=broker.port, intake_mail=free_port())
    env = service_environment(ports, data_dir, {"KAFKA_SESSION_TIMEOUT_MS": "1500", **extra})
    return ServiceProcess("intake", ports.intake, env, data_dir / "logs")


async def test_a_submission_stored_before_a_crash_is_published_once_after_restart(
    broker: TansuBroker, tmp_path: Path
) -> None:
    key = f"kill-{uuid.uuid4()}"
    body = EXAMPLES[SubmissionKind.BREACH_REPORT]
    crashing = intake_process(broker, tmp_path, {"CASEWORK_CRASH_AT": CRASH_POINT})
    crashing.start()
    try:
        crashing.wait_healthy(60)
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientError):
                async with http.post(
                    f"{crashing.url}/api/v1/submissions/breach-report",
                    json=body,
                    headers={"Idempotency-Key": key},
                ) as reply:
                    await reply.read()
        assert crashing.wait_exit(30) == -9
    finally:
        crashing.kill()
    intake = Intake(crashing.url, tmp_path, broker.bootstrap)
    [stored] = await intake.documents()
    reference = stored["_id"]
    assert await intake.pending_outbox() == 1
    assert await events_about(broker.bootstrap, reference) == []

    restarted = intake_process(broker, tmp_path, {})
    restarted.start()
    try:
        restarted.wait_healthy(60)
        found = await eventually(
            lambda: events_about(broker.bootstrap, reference), what="the event after restart"
        )
        assert len(found) == 1
        assert found[0].data["kind"] == "breach-report"

        # The requester's client retries: it is told the same reference, nothing new.
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{restarted.url}/api/v1/submissions/breach-report",
                json=body,
                headers={"Idempotency-Key": key},
            ) as reply,
        ):
            assert reply.status == 202, await reply.text()
            assert (await reply.json())["reference"] == reference
            assert reply.headers["Idempotent-Replayed"] == "true"
        assert await intake.pending_outbox() == 0
        assert len(await events_about(broker.bootstrap, reference)) == 1
    finally:
        restarted.stop()

"""Schemathesis against intake's own OpenAPI document: no request may get a 5xx, every status
the service answers must be documented for its operation, and a refused request stores
nothing.

Real parts: intake started as `python -m services.intake` (its own process, SQLite file
store), the Tansu broker it publishes to; schemathesis (PyPI) generates requests from
`/api/v1/openapi.json` (valid by the schema and invalid) and sends them over HTTP. Bounded:
``MAX_EXAMPLES`` per operation and mode, and ``BUDGET_SECONDS`` in all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import status_code_conformance

from casework.contract import SubmissionKind
from casework.store import open_store
from deploy.broker import TansuBroker
from deploy.credentials import BusCredentials
from deploy.stack import Ports, ServiceProcess, service_environment
from services.intake.usecases import CORRESPONDENCE, IDEMPOTENCY, INCOMPLETE, SUBMISSIONS
from tests.support import free_port
from tests.test_intake_api import rate_limited_policy

MAX_EXAMPLES = 25
BUDGET_SECONDS = 90.0
CHECKS = [not_a_server_error, status_code_conformance]


@pytest.fixture(scope="module")
def intake_process(
    kafka_broker: TansuBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, Path]]:
    data_dir = tmp_path_factory.mktemp("fuzz-intake")
    # Limits high enough that valid requests are judged on their content, not counted out.
    policy = rate_limited_policy(data_dir, per_sender=100_000, per_client=100_000)
    ports = Ports(intake=free_port(), broker=kafka_broker.port, intake_mail=free_port())
    env = service_environment(
        ports,
        data_dir,
        {
            "KAFKA_SESSION_TIMEOUT_MS": "1500",
            "CASEWORK_POLICY_FILE": str(policy),
            **BusCredentials.default().service_environment("intake"),
        },
    )
    process = ServiceProcess("intake", ports.intake, env, data_dir / "logs")
    process.start()
    try:
        process.wait_healthy(60)
        yield process, data_dir
    finally:
        process.stop()


def stored(data_dir: Path) -> dict[str, list[dict[str, object]]]:
    async def read() -> dict[str, list[dict[str, object]]]:
        store = await open_store(f"sqlite:///{data_dir / 'intake.sqlite3'}")
        try:
            return {
                c: await store.find(c)
                for c in (SUBMISSIONS, IDEMPOTENCY, INCOMPLETE, CORRESPONDENCE)
            }
        finally:
            await store.close()

    return asyncio.run(read())


@dataclass
class Seen:
    accepted: set[str]
    statuses: dict[int, int]
    failures: list[str]


def fuzz(
    operation: APIOperation,
    mode: GenerationMode,
    base_url: str,
    session: requests.Session,
    seen: Seen,
) -> None:
    """Up to MAX_EXAMPLES requests to ``operation``, generated in ``mode``; every response
    checked, failures collected (all of them, not only hypothesis' first)."""

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        response = case.call(base_url=base_url, session=session, timeout=10)
        seen.statuses[response.status_code] = seen.statuses.get(response.status_code, 0) + 1
        if response.status_code == 202:
            seen.accepted.add(response.json()["reference"])
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as exc:
            seen.failures.append(f"{operation.label} ({mode.value}): {exc}"[:2000])

    run()


def test_the_api_conforms_to_its_document_and_refusals_store_nothing(
    intake_process: tuple[ServiceProcess, Path],
) -> None:
    process, data_dir = intake_process
    schema = schemathesis.openapi.from_url(f"{process.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {o.label for o in operations}
    wanted = {f"POST /api/v1/submissions/{k.value}" for k in SubmissionKind}
    wanted |= {"POST /api/v1/requests", "GET /api/v1/submissions/{reference}"}
    assert wanted <= labels, wanted - labels
    started = time.monotonic()
    accepted: set[str] = set()
    statuses: dict[int, int] = {}
    failures: list[str] = []
    session = requests.Session()

    for operation in operations:
        for mode in GenerationMode:
            if time.monotonic() - started > BUDGET_SECONDS:
                pytest.fail(f"over the budget of {BUDGET_SECONDS:.0f}s before {operation.label}")
            fuzz(operation, mode, process.url, session, Seen(accepted, statuses, failures))
    elapsed = time.monotonic() - started
    assert failures == [], "\n\n".join(failures[:5])
    assert elapsed <= BUDGET_SECONDS + 30, elapsed
    # Refusals stored nothing: each stored submission (and idempotency record) is one that was
    # answered 202, and no mail-only records appeared.
    found = stored(data_dir)
    assert {d["_id"] for d in found[SUBMISSIONS]} == accepted
    assert {d["reference"] for d in found[IDEMPOTENCY]} <= accepted
    assert found[INCOMPLETE] == [] and found[CORRESPONDENCE] == []
    # The run exercised both sides: some accepted, some refused by field rules.
    assert statuses.get(202, 0) > 0 and statuses.get(422, 0) > 0, statuses
    print(f"schemathesis: {sum(statuses.values())} requests in {elapsed:.1f}s: {statuses}")

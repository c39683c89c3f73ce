"""The ops command line (`python -m services.monitor …`) run as a subprocess against a
real Tansu broker; the tests assert on what it prints and on what it publishes."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from casework.cloudevents import from_kafka, to_kafka
from casework.contract import EventData, dead_letter_topic_of, to_cloudevent, topic_of
from casework.kafka import EventPublisher
from deploy.broker import TansuBroker
from deploy.credentials import BusCredentials
from deploy.stack import REPO_ROOT
from services.monitor.adapters.reader import read_all
from tests.examples import like
from tests.support import commit_at_start, free_port


@pytest.fixture(scope="module")
def broker() -> Iterator[TansuBroker]:
    """A broker of its own: the command line reads the fixed `officeactions.*` topics."""
    own = TansuBroker(free_port())
    own.start()
    try:
        yield own
    finally:
        own.stop()


async def publish(broker: TansuBroker, *items: EventData) -> list[str]:
    pub = EventPublisher(broker.settings(client_id="cli-test"))
    await pub.start()
    ids = []
    try:
        for data in items:
            event = to_cloudevent(data)
            await pub.publish(topic_of(data.PRODUCER), event)
            ids.append(event.id)
    finally:
        await pub.stop()
    return ids


def cli_env(broker: TansuBroker) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        **BusCredentials.default().service_environment("ops"),
    }


async def cli(broker: TansuBroker, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.monitor",
        *args,
        cwd=REPO_ROOT,
        env=cli_env(broker),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_tail_prints_the_last_events_decoded(broker: TansuBroker) -> None:
    subs = [f"R-TAIL{n}{uuid.uuid4().hex[:6].upper()}" for n in range(3)]
    ids = await publish(broker, *(like("SubmissionReceived", submission_id=s) for s in subs))
    code, out, err = await cli(broker, "tail", "intake", "--limit", "2")
    assert code == 0, err
    assert ids[0] not in out
    assert f"id={ids[1]}" in out and f"id={ids[2]}" in out
    assert "officeactions.intake.submission-received.v1" in out
    assert f'"submission_id": "{subs[2]}"' in out  # pretty-printed JSON data


async def test_tail_follow_prints_new_events_as_they_come(broker: TansuBroker) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.monitor",
        "tail",
        "notify",
        "--follow",
        cwd=REPO_ROOT,
        env=cli_env(broker),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        case_id = f"OA-FOLLOW{uuid.uuid4().hex[:6].upper()}"
        (event_id,) = await publish(broker, like("NotificationSent", case_id=case_id))
        seen = ""
        while f"id={event_id}" not in seen:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
            assert line, "tail --follow ended"
            seen += line.decode()
        assert case_id in seen
    finally:
        process.terminate()
        await process.wait()


async def test_history_lists_a_cases_events_across_topics_in_time_order(
    broker: TansuBroker,
) -> None:
    tail = uuid.uuid4().hex[:8].upper()
    case_id, submission_id = f"OA-H{tail}", f"R-H{tail}"
    # Published in time order across four topics; a later review event follows the
    # notify one, so reading topic by topic would print them in the wrong order.
    await publish(broker, like("SubmissionReceived", submission_id=submission_id))
    await publish(broker, like("CaseOpened", case_id=case_id, submission_id=submission_id))
    await publish(broker, like("CaseOpened", case_id="OA-SOMEONEELSE", submission_id="R-OTHER"))
    await publish(broker, like("DecisionApproved", case_id=case_id))
    await publish(broker, like("ActionEnforced", case_id=case_id))
    await publish(broker, like("NotificationSent", case_id=case_id))
    await publish(broker, like("DecisionReversed", case_id=case_id))
    code, out, err = await cli(broker, "history", case_id)
    assert code == 0, err
    kinds = (
        "submission-received",
        "case-opened",
        "decision-approved",
        "action-enforced",
        "notification-sent",
        "decision-reversed",
    )
    order = [out.index(f".{kind}.v1  ") for kind in kinds]
    assert order == sorted(order)
    assert "OA-SOMEONEELSE" not in out
    code, _, err = await cli(broker, "history", "OA-NOSUCHCASE")
    assert code == 1 and "no events for case OA-NOSUCHCASE" in err


async def test_dead_letters_are_listed_and_replayed_once(broker: TansuBroker) -> None:
    dlq = dead_letter_topic_of("enforcement")
    source = topic_of("review")
    pub = EventPublisher(broker.settings(client_id="dlq-test"))
    await pub.start()
    event_ids = []
    try:
        for n in range(2):
            event = to_cloudevent(
                like("DecisionApproved", case_id=f"OA-DLQ{n}{uuid.uuid4().hex[:6].upper()}")
            )
            key, value, headers = to_kafka(event)
            headers += [
                ("dlq_error", b"wiki down"),
                ("dlq_error_type", b"RuntimeError"),
                ("dlq_source_topic", source.encode()),
                ("dlq_partition", b"0"),
                ("dlq_offset", str(n).encode()),
                ("dlq_consumer_group", b"casework-enforcement"),
                ("dlq_attempts", b"5"),
                ("dlq_time", datetime.now(UTC).isoformat().encode()),
            ]
            await pub.publish_raw(dlq, key, value, headers)
            event_ids.append(event.id)
    finally:
        await pub.stop()

    code, out, err = await cli(broker, "dlq", "list", "enforcement")
    assert code == 0, err
    assert f"2 dead letter(s) on {dlq}, 0 replayed" in out
    assert out.count("parked") == 2 and "RuntimeError: wiki down" in out
    first_place = next(line.split()[0] for line in out.splitlines() if event_ids[0] in line)

    code, out, err = await cli(
        broker, "dlq", "replay", dlq, "--id", first_place, "--by", "ops-test"
    )
    assert code == 0, err
    assert "replayed 1, skipped 0" in out
    code, out, err = await cli(broker, "dlq", "replay", "enforcement")
    assert code == 0, err
    assert "replayed 1, skipped 1" in out and event_ids[1] in out
    code, out, err = await cli(broker, "dlq", "replay", "enforcement")
    assert "replayed 0, skipped 2" in out

    replayed = [
        from_kafka(r.key, r.value, r.headers) for r in await read_all(broker.settings(), [source])
    ]
    assert sorted(e.id for e in replayed if e.id in event_ids) == sorted(event_ids)
    originals = await read_all(broker.settings(), [source])
    assert not any(name.startswith("dlq_") for r in originals for name, _ in r.headers)
    code, out, _ = await cli(broker, "dlq", "list", "enforcement")
    assert "2 replayed" in out and out.count("  replayed  ") == 2


async def test_lag_shows_each_groups_uncommitted_records(broker: TansuBroker) -> None:
    await publish(broker, like("CaseOpened", case_id=f"OA-LAG{uuid.uuid4().hex[:6].upper()}"))
    group = f"casework-lagtest-{uuid.uuid4().hex[:6]}"
    await commit_at_start(broker.bootstrap, group, topic_of("review"))
    code, out, err = await cli(broker, "lag")
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith(group))
    assert line.split()[1] == topic_of("review")
    assert int(line.split()[2]) >= 1
    assert "Tansu under-reports" in out


async def test_bad_arguments_are_refused_with_the_rule(broker: TansuBroker) -> None:
    code, _, err = await cli(broker, "tail", "intake", "--limit", "0")
    assert code == 2 and "--limit: must be at least 1" in err
    code, _, err = await cli(broker, "dlq", "nonsense")
    assert code == 2 and "invalid choice" in err

"""The ops monitor as its own process (`python -m services.monitor`) over a real Tansu broker.

Events are published to the broker the way the services publish them; the tests read
the monitor's JSON summary, its /metrics text, its alerts on `officeactions.monitor`,
and its dashboard in a real headless Chromium.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from playwright.async_api import Page

from casework import assertions
from casework.cloudevents import CloudEvent, from_kafka, to_kafka
from casework.contract import (
    EventData,
    dead_letter_topic_of,
    to_cloudevent,
    topic_of,
)
from casework.contract.monitor import AlertRaised
from casework.kafka import EventPublisher, KafkaSettings
from deploy.broker import TansuBroker
from deploy.stack import ServiceProcess
from services.monitor.adapters.reader import read_all
from tests.examples import like
from tests.fixtures.browser import artefact_path
from tests.fixtures.keys import install_keys, session_signer
from tests.support import commit_at_start, eventually, free_port
from tests.test_contract import EXAMPLES

REVIEW_URL = "http://review.example.test"


@pytest.fixture(scope="module")
def broker() -> Iterator[TansuBroker]:
    """A broker of its own: the monitor reads the fixed `officeactions.*` topics."""
    own = TansuBroker(free_port())
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture(scope="module")
def monitor(
    broker: TansuBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    data_dir = tmp_path_factory.mktemp("monitor")
    install_keys(data_dir)  # the monitor trusts the test session's review key
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "KAFKA_SESSION_TIMEOUT_MS": "1500",
        "CASEWORK_DATA_DIR": str(data_dir),
        "MONITOR_PORT": str(port),
        "MONITOR_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "REVIEW_PUBLIC_URL": REVIEW_URL,
        "MONITOR_OPS_EMAIL": "ops@example.org",
        "MONITOR_TICK_SECONDS": "0.5",
        "MONITOR_QUIET_SECONDS": "1",
        "MONITOR_LAG_SECONDS": "1",
    }
    import os

    process = ServiceProcess(
        "monitor", int(env["MONITOR_PORT"]), {**os.environ, **env}, Path(data_dir) / "logs"
    )
    process.start()
    try:
        process.wait_healthy(60)
        yield process
    finally:
        process.stop()


@pytest.fixture
def publisher_settings(broker: TansuBroker) -> KafkaSettings:
    """The shared publisher fixture publishes on this module's own broker."""
    return broker.settings(client_id="test-pub")


def new_case() -> tuple[str, str]:
    tail = uuid.uuid4().hex[:10].upper()
    return f"OA-{tail}", f"R-{tail}"


async def publish(pub: EventPublisher, data: EventData) -> CloudEvent:
    event = to_cloudevent(data)
    await pub.publish(topic_of(data.PRODUCER), event)
    return event


def ops_token(roles: tuple[str, ...] = ("ops",), staff_id: str = "olga") -> str:
    """What review's POST /api/v1/assertions answers an ops member (same key, same claims)."""
    token, _ = assertions.issue(
        session_signer().private_key,
        staff_id=staff_id,
        roles=roles,
        audience="monitor",
        now=datetime.now(UTC),
    )
    return token


def as_ops() -> dict[str, str]:
    return {"Authorization": f"Bearer {ops_token()}"}


async def summary(monitor: ServiceProcess) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{monitor.url}/api/summary", headers=as_ops()) as reply:
            assert reply.status == 200
            body: dict[str, Any] = await reply.json()
            return body


async def metrics_text(monitor: ServiceProcess) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{monitor.url}/metrics") as reply:
            assert reply.status == 200
            return await reply.text()


async def alerts(broker: TansuBroker) -> list[AlertRaised]:
    found = []
    for record in await read_all(broker.settings(), [topic_of("monitor")]):
        event = from_kafka(record.key, record.value, record.headers)
        if event.type == AlertRaised.TYPE:
            found.append(AlertRaised.model_validate(event.data))
    return found


async def alerts_for(broker: TansuBroker, case_id: str) -> list[AlertRaised]:
    return [a for a in await alerts(broker) if a.case_id == case_id]


async def lifecycle(pub: EventPublisher, now: datetime) -> str:
    """A case from submission to enforcement: 2 h to decision, 30 min to enforcement, and
    the affected user told a minute later (else an enforced-not-told alert is due)."""
    case_id, submission_id = new_case()
    received = now - timedelta(hours=3)
    await publish(
        pub, like("SubmissionReceived", submission_id=submission_id, received_at=received)
    )
    await publish(
        pub,
        like(
            "CaseOpened",
            case_id=case_id,
            submission_id=submission_id,
            opened_at=received,
            deadline_at=now + timedelta(days=20),
        ),
    )
    await publish(
        pub, like("DecisionApproved", case_id=case_id, approved_at=received + timedelta(hours=2))
    )
    await publish(
        pub,
        like(
            "ActionEnforced",
            case_id=case_id,
            enforced_at=received + timedelta(hours=2, minutes=30),
        ),
    )
    await publish(
        pub,
        like(
            "NotificationSent",
            case_id=case_id,
            sent_at=received + timedelta(hours=2, minutes=31),
        ),
    )
    return case_id


async def case_view(monitor: ServiceProcess, case_id: str) -> dict[str, Any] | None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{monitor.url}/api/cases/{case_id}", headers=as_ops()) as reply:
            if reply.status == 404:
                return None
            assert reply.status == 200
            body: dict[str, Any] = await reply.json()
            return body


async def lifecycle_seen(monitor: ServiceProcess, case_id: str) -> None:
    """Wait until every event of ``lifecycle`` (four topics' worth) was folded in."""

    async def done() -> bool:
        view = await case_view(monitor, case_id)
        return bool(view and view["state"] == "enforced" and view["submission_received_at"])

    await eventually(done, timeout=30, what=f"case {case_id} enforced")


def open_count(s: dict[str, Any], state: str, action_type: str) -> int:
    return sum(
        r["count"]
        for r in s["open_cases"]
        if r["state"] == state and r["action_type"] == action_type
    )


async def test_views_follow_a_case_from_submission_to_enforcement(
    monitor: ServiceProcess, publisher: EventPublisher
) -> None:
    now = datetime.now(UTC)
    case_id, submission_id = new_case()
    before = await summary(monitor)
    await publish(
        publisher,
        like(
            "SubmissionReceived",
            submission_id=submission_id,
            received_at=now - timedelta(minutes=90),
            action_type="event-ban",
        ),
    )
    await publish(
        publisher,
        like(
            "CaseOpened",
            case_id=case_id,
            submission_id=submission_id,
            action_type="event-ban",
            opened_at=now - timedelta(minutes=90),
            deadline_at=now + timedelta(days=10),
        ),
    )

    async def under_review() -> dict[str, Any] | None:
        # Two topics (intake, review): the monitor may read them in either order.
        s = await summary(monitor)
        wanted = open_count(before, "under-review", "event-ban") + 1
        counted = s["submissions_24h"] == before["submissions_24h"] + 1
        return s if counted and open_count(s, "under-review", "event-ban") == wanted else None

    await eventually(under_review, timeout=30, what="the submission and its case under review")

    decision = EXAMPLES["DecisionApproved"].decision.model_copy(update={"action_type": "event-ban"})
    await publish(
        publisher,
        like(
            "DecisionApproved",
            case_id=case_id,
            decision=decision,
            approved_at=now - timedelta(minutes=30),
        ),
    )

    async def approved() -> dict[str, Any] | None:
        s = await summary(monitor)
        ok = (
            open_count(s, "approved", "event-ban")
            == open_count(before, "approved", "event-ban") + 1
        )
        gone = open_count(s, "under-review", "event-ban") == open_count(
            before, "under-review", "event-ban"
        )
        return s if ok and gone else None

    s = await eventually(approved, timeout=30, what="the case approved")
    assert s["decisions_24h"] == before["decisions_24h"] + 1

    await publish(
        publisher,
        like(
            "ActionEnforced",
            case_id=case_id,
            decision=decision,
            enforced_at=now - timedelta(minutes=20),
        ),
    )
    await publish(
        publisher,
        like("NotificationSent", case_id=case_id, sent_at=now - timedelta(minutes=19)),
    )

    async def enforced() -> dict[str, Any] | None:
        s = await summary(monitor)
        return (
            s
            if open_count(s, "approved", "event-ban") == open_count(before, "approved", "event-ban")
            else None
        )

    s = await eventually(enforced, timeout=30, what="the case enforced (no longer open)")
    assert s["durations"]["submission_to_decision"]["p50"] is not None
    assert s["durations"]["decision_to_enforcement"]["p99"] is not None


async def test_each_alert_is_raised_once_with_what_to_do(
    broker: TansuBroker, monitor: ServiceProcess, publisher: EventPublisher
) -> None:
    now = datetime.now(UTC)
    case_id, _ = new_case()
    before = await summary(monitor)
    breached = like(
        "DeadlineBreached", case_id=case_id, deadline_at=now - timedelta(hours=1), detected_at=now
    )
    first = await publish(publisher, breached)
    await publisher.publish(topic_of("review"), first)  # the same event redelivered
    await publish(publisher, breached)  # the same problem reported again, a new event id
    await publish(
        publisher,
        like("EnforcementFailed", case_id=case_id, wiki="dewiki", permanent=True, failed_at=now),
    )
    await publish(
        publisher,
        like("EnforcementFailed", case_id=case_id, wiki="dewiki", permanent=False, failed_at=now),
    )
    await publish(
        publisher, like("NotificationFailed", case_id=case_id, permanent=True, failed_at=now)
    )
    # Last on the enforcement topic's partition of the case: once its alert is out, the
    # enforcement records before it were handled (topics are read in no common order).
    await publish(
        publisher,
        like("TamperingDetected", case_id=case_id, tampering_id=f"t-{case_id}", detected_at=now),
    )

    async def four_kinds() -> list[AlertRaised] | None:
        found = await alerts_for(broker, case_id)
        return found if len({a.kind for a in found}) == 4 else None

    raised = await eventually(four_kinds, timeout=30, what="an alert of each kind")
    kinds = sorted(a.kind for a in raised)
    assert kinds == [
        "deadline-breached",
        "enforcement-failed",
        "notification-failed",
        "tampering-detected",
    ]
    for alert in raised:
        assert alert.case_url == f"{REVIEW_URL}/console/cases/{case_id}"
        assert alert.ops_address == "ops@example.org"
        assert case_id in alert.what_happened
        assert alert.what_to_do
    failed = next(a for a in raised if a.kind == "enforcement-failed")
    assert "dewiki" in failed.what_happened

    s = await summary(monitor)
    assert (
        s["enforcement_failures"]["dewiki"] == before["enforcement_failures"].get("dewiki", 0) + 2
    )
    mine = [f for f in s["failed"] if f["case_id"] == case_id]
    assert {(f["source"], f["permanent"]) for f in mine} == {
        ("enforcement", True),
        ("enforcement", False),
        ("notify", True),
    }
    assert all(f["url"] == f"{REVIEW_URL}/console/cases/{case_id}" for f in mine)
    assert [t["case_id"] for t in s["tampering"]].count(case_id) == 1
    assert any(c["case_id"] == case_id and c["status"] == "breached" for c in s["late"])

    # A decision after the repeated breach reports, on the same partition: once the case
    # leaves the late list, the repeats were handled too, and raised nothing more.
    await publish(publisher, like("DecisionDeclined", case_id=case_id, declined_at=now))

    async def decided() -> bool:
        late = (await summary(monitor))["late"]
        return not any(c["case_id"] == case_id for c in late)

    await eventually(decided, timeout=30, what="the declined case off the late list")
    again = await alerts_for(broker, case_id)
    assert sorted(a.alert_key for a in again) == sorted(a.alert_key for a in raised)


async def test_the_monitors_clock_finds_late_cases_but_not_decided_ones(
    broker: TansuBroker, monitor: ServiceProcess, publisher: EventPublisher
) -> None:
    now = datetime.now(UTC)
    decided, decided_sub = new_case()
    await publish(
        publisher,
        like(
            "CaseOpened",
            case_id=decided,
            submission_id=decided_sub,
            opened_at=now - timedelta(days=2),
            deadline_at=now - timedelta(hours=1),
        ),
    )
    await publish(
        publisher, like("DecisionApproved", case_id=decided, approved_at=now - timedelta(hours=2))
    )

    async def decided_seen() -> bool:
        s = await summary(monitor)
        return not any(c["case_id"] == decided for c in s["late"]) and s["version"] > 0

    await eventually(decided_seen, timeout=30, what="the decided case")
    late, late_sub = new_case()
    soon, soon_sub = new_case()
    for case_id, sub, deadline in (
        (late, late_sub, now - timedelta(minutes=5)),
        (soon, soon_sub, now + timedelta(hours=3)),
    ):
        await publish(
            publisher,
            like(
                "CaseOpened",
                case_id=case_id,
                submission_id=sub,
                opened_at=now - timedelta(days=1),
                deadline_at=deadline,
            ),
        )

    async def both_alerted() -> list[AlertRaised] | None:
        found = [a for a in await alerts(broker) if a.case_id in (late, soon)]
        return found if len({a.case_id for a in found}) == 2 else None

    raised = await eventually(both_alerted, timeout=30, what="clock alerts for both cases")
    assert {(a.case_id, a.kind) for a in raised} == {
        (late, "deadline-breached"),
        (soon, "deadline-at-risk"),
    }
    # The deadline clock leaves the decided case alone (its approval was never enforced:
    # that is the approved-not-enforced alert's business, tests/test_monitor_stalls.py).
    assert [a for a in await alerts_for(broker, decided) if a.kind.startswith("deadline")] == []
    s = await summary(monitor)
    statuses = {c["case_id"]: c["status"] for c in s["late"]}
    assert statuses[late] == "breached"
    assert statuses[soon] == "at-risk"
    assert decided not in statuses


def _dead_letter(
    source: EventData, dlq_topic: str, offset: int
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    key, value, headers = to_kafka(to_cloudevent(source))
    return (
        key,
        value,
        [
            *headers,
            ("dlq_error", b"data.wiki: String should match pattern"),
            ("dlq_error_type", b"ValidationError"),
            ("dlq_source_topic", topic_of(source.PRODUCER).encode()),
            ("dlq_partition", b"0"),
            ("dlq_offset", str(offset).encode()),
            ("dlq_consumer_group", b"casework-notify"),
            ("dlq_attempts", b"1"),
            ("dlq_time", datetime.now(UTC).isoformat().encode()),
        ],
    )


async def test_dead_letters_are_counted_per_topic_and_alerted_once(
    broker: TansuBroker, monitor: ServiceProcess, publisher: EventPublisher
) -> None:
    topic = dead_letter_topic_of("notify")
    case_id, _ = new_case()
    before = (await summary(monitor))["dead_letters"].get(topic, {"parked": 0, "total": 0})
    key, value, headers = _dead_letter(like("ActionEnforced", case_id=case_id), topic, 7)
    await publisher.publish_raw(topic, key, value, headers)

    async def counted() -> dict[str, int] | None:
        now = (await summary(monitor))["dead_letters"].get(topic)
        return now if now and now["total"] == before["total"] + 1 else None

    now = await eventually(counted, timeout=30, what="the dead letter counted")
    assert now["parked"] == before["parked"] + 1

    async def alerted() -> list[AlertRaised] | None:
        return [a for a in await alerts_for(broker, case_id) if a.kind == "dead-lettered"] or None

    raised = await eventually(alerted, timeout=30, what="the dead-letter alert")
    assert len(raised) == 1
    assert topic in raised[0].what_happened and topic in raised[0].what_to_do
    text = await metrics_text(monitor)
    assert f'monitor_dead_letters_total{{topic="{topic}"}} {float(now["total"])}' in text


async def test_metrics_expose_the_same_figures(
    broker: TansuBroker, monitor: ServiceProcess, publisher: EventPublisher
) -> None:
    await lifecycle_seen(monitor, await lifecycle(publisher, datetime.now(UTC)))
    group = f"lagging-{uuid.uuid4().hex[:6]}"
    await commit_at_start(broker.bootstrap, group, topic_of("review"))

    async def lag_seen() -> str | None:
        text = await metrics_text(monitor)
        return text if f'monitor_consumer_lag{{group="{group}"' in text else None

    text = await eventually(lag_seen, timeout=30, what="the lag of the new group")
    lag = re.search(
        rf'monitor_consumer_lag{{group="{group}",topic="officeactions.review"}} (\S+)', text
    )
    assert lag is not None and float(lag.group(1)) >= 2  # at least this test's case events
    s = await summary(monitor)
    for row in s["open_cases"]:
        line = (
            f'monitor_open_cases{{action_type="{row["action_type"]}",state="{row["state"]}"}}'
            f" {float(row['count'])}"
        )
        assert line in text
    p50 = s["durations"]["submission_to_decision"]["p50"]
    assert f'monitor_submission_to_decision_seconds{{quantile="0.5"}} {float(p50)}' in text
    assert re.search(r'monitor_deadlines\{status="breached"\} \d', text)
    assert "monitor_events_total" in text


async def test_a_restart_rebuilds_the_same_figures_and_raises_nothing_twice(
    broker: TansuBroker, monitor: ServiceProcess, publisher: EventPublisher
) -> None:
    now = datetime.now(UTC)
    await lifecycle_seen(monitor, await lifecycle(publisher, now))
    case_id, sub = new_case()
    await publish(
        publisher,
        like(
            "CaseOpened",
            case_id=case_id,
            submission_id=sub,
            opened_at=now - timedelta(days=1),
            deadline_at=now - timedelta(hours=2),
        ),
    )

    async def alert_read_back() -> bool:
        # The monitor also reads its own topic: the figures settle once it has read the alert.
        return any(a["case_id"] == case_id for a in (await summary(monitor))["alerts"])

    await eventually(alert_read_back, timeout=30, what="the breach alert read back")

    def figures(s: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in s.items() if k not in ("now", "version", "lag", "chart")}

    settled = figures(await summary(monitor))
    keys_before = sorted(a.alert_key for a in await alerts(broker))
    assert len(keys_before) == len(set(keys_before))

    monitor.stop()
    monitor.start()
    monitor.wait_healthy(60)

    async def rebuilt() -> bool:
        return figures(await summary(monitor)) == settled

    try:
        await eventually(rebuilt, timeout=60, what="the same figures after the restart")
    except AssertionError:
        now_figures = figures(await summary(monitor))
        diff = {
            k: (settled[k], now_figures.get(k)) for k in settled if settled[k] != now_figures.get(k)
        }
        raise AssertionError(f"figures differ after the restart: {diff}") from None
    marker, _ = new_case()
    await publish(
        publisher,
        like("TamperingDetected", case_id=marker, tampering_id=f"t-{marker}", detected_at=now),
    )
    await eventually(lambda: alerts_for(broker, marker), timeout=30, what="a new alert")
    keys_after = sorted(a.alert_key for a in await alerts(broker))
    assert len(keys_after) == len(set(keys_after)), "an alert was raised twice"
    assert set(keys_after) == {*keys_before, f"tampering-detected:t-{marker}"}


async def test_the_dashboard_updates_live_in_chromium(
    monitor: ServiceProcess, publisher: EventPublisher, page: Page
) -> None:
    await lifecycle(publisher, datetime.now(UTC))
    # Signed in as review's hand-off would: the callback keeps the assertion as the session.
    await page.goto(
        f"{monitor.url}/auth/callback?"
        + urlencode({"token": ops_token(), "return": f"{monitor.url}/?lang=en"})
    )
    await page.wait_for_selector("#connection.on", timeout=15000)
    await page.evaluate("window.loadedOnce = true")
    assert await page.locator("#chart rect.submissions").count() == 24
    case_id, sub = new_case()
    now = datetime.now(UTC)
    await publish(
        publisher,
        like(
            "CaseOpened",
            case_id=case_id,
            submission_id=sub,
            opened_at=now - timedelta(days=3),
            deadline_at=now - timedelta(minutes=10),
        ),
    )
    link = page.locator(f"#late a:text-is('{case_id}')")
    await link.wait_for(timeout=30000)
    assert await link.get_attribute("href") == f"{REVIEW_URL}/console/cases/{case_id}"
    assert await page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    row = page.locator(f"#late tr:has(a:text-is('{case_id}'))")
    assert "breached" in (await row.inner_text())
    alert = page.locator(f"#alerts tr:has(a:text-is('{case_id}'))")
    await alert.wait_for(timeout=30000)
    assert "Escalate" in await alert.inner_text()  # what to do, from text/en.yaml
    assert await page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    await page.screenshot(path=str(artefact_path("monitor-dashboard.png")), full_page=True)

    await page.goto(f"{monitor.url}/?lang=ru")
    assert "Просроченные дела" in await page.locator("main").inner_text()

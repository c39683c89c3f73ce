"""The monitor's clock alerts on cases stuck between services: approved but not enforced,
enforced but not told, within the policy's `monitor:` limits. The pure fold and alerts,
then the tracker's clock tick over a real store (each alert raised once)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from casework.cloudevents import CloudEvent, from_kafka
from casework.contract import (
    AffectedUser,
    Audience,
    DecisionApproved,
    EventData,
    from_cloudevent,
    to_cloudevent,
    topic_of,
)
from casework.contract.monitor import AlertKind, AlertRaised
from casework.kafka import EventPublisher
from casework.outbox import OutboxRelay
from casework.policy import PolicyError, load_policy
from casework.store import DocumentStore
from deploy.broker import TansuBroker
from deploy.stack import ServiceProcess
from services.monitor.adapters.alert_book import AlertBook
from services.monitor.adapters.reader import read_all
from services.monitor.adapters.texts import alert_text
from services.monitor.domain.alerts import StallRules, stall_alerts
from services.monitor.domain.redaction import WITHHELD, redact
from services.monitor.domain.summary import summarise
from services.monitor.domain.views import Views
from services.monitor.handlers import HANDLERS
from services.monitor.policy import rules_of
from services.monitor.usecases import Tracker
from tests.examples import like
from tests.fixtures.keys import install_keys
from tests.fixtures.stores import nx27017, store  # noqa: F401
from tests.support import eventually, free_port
from tests.test_contract import EXAMPLES

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
LIMITS = rules_of(POLICY)
STALLS = StallRules(LIMITS, POLICY.notify)
NOW = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
DECISION = cast(DecisionApproved, EXAMPLES["DecisionApproved"]).decision


def approved(case_id: str, minutes_ago: float, **decision: Any) -> EventData:
    return like(
        "DecisionApproved",
        case_id=case_id,
        decision=DECISION.model_copy(update=decision),
        approved_at=NOW - timedelta(minutes=minutes_ago),
    )


def enforced(case_id: str, minutes_ago: float, **decision: Any) -> EventData:
    return like(
        "ActionEnforced",
        case_id=case_id,
        decision=DECISION.model_copy(update=decision),
        enforced_at=NOW - timedelta(minutes=minutes_ago),
    )


def fold(*events: EventData) -> Views:
    views = Views(HANDLERS)
    for n, data in enumerate(events):
        views.apply(f"e{n}", data)
    return views


def keys(views: Views, now: datetime = NOW, rules: StallRules = STALLS) -> list[str]:
    return sorted(a.key for a in stall_alerts(views, now, rules))


def test_the_policy_sets_the_limits_and_child_protection_has_shorter_ones() -> None:
    limits = LIMITS
    assert limits.enforce_limit("global-ban") == timedelta(minutes=15)
    assert limits.tell_limit("global-ban") == timedelta(minutes=30)
    assert limits.enforce_limit("child-protection") < timedelta(minutes=15)
    assert limits.tell_limit("child-protection") < timedelta(minutes=30)


def test_a_limit_for_an_unknown_action_type_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "policy" / "office-actions.yaml").read_text("utf-8"))
    raw["monitor"]["action_types"]["no-such-action"] = {"enforced_within_minutes": 1}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    with pytest.raises(PolicyError, match=r"monitor\.action_types\.no-such-action"):
        rules_of(load_policy(path))
    raw["monitor"]["action_types"] = {"global-ban": {"told_within_minutes": 0}}
    path.write_text(yaml.safe_dump(raw), "utf-8")
    with pytest.raises(PolicyError, match=r"monitor\.action_types\.global-ban\.told_within"):
        rules_of(load_policy(path))


def test_an_approval_not_enforced_in_time_raises_one_alert() -> None:
    views = fold(approved("OA-LATE", 16), approved("OA-RECENT", 14))
    assert keys(views) == ["approved-not-enforced:OA-LATE"]
    [alert] = stall_alerts(views, NOW, STALLS)
    assert alert.kind is AlertKind.APPROVED_NOT_ENFORCED and alert.case_id == "OA-LATE"
    assert alert.params == {
        "action_type": "global-ban",
        "since": "2026-11-21 12:14 UTC",
        "minutes": "15",
    }
    # Later ticks find the same problem under the same key.
    assert keys(views, NOW + timedelta(hours=1)) == [
        "approved-not-enforced:OA-LATE",
        "approved-not-enforced:OA-RECENT",
    ]
    views.apply("x", enforced("OA-LATE", 1))
    views.apply("y", like("NotificationSent", case_id="OA-LATE", sent_at=NOW))
    assert keys(views) == []


def test_child_protection_is_held_to_its_shorter_limit() -> None:
    limit = LIMITS.enforce_limit("child-protection").total_seconds() / 60
    views = fold(approved("OA-CP", limit + 1, action_type="child-protection"))
    assert keys(views) == ["approved-not-enforced:OA-CP"]
    assert keys(fold(approved("OA-GB", limit + 1))) == []


def test_an_enforcement_nobody_was_told_of_raises_one_alert() -> None:
    views = fold(approved("OA-1", 40), enforced("OA-1", 31), enforced("OA-2", 29))
    assert keys(views) == ["enforced-not-told:OA-1"]
    [alert] = stall_alerts(views, NOW, STALLS)
    assert alert.kind is AlertKind.ENFORCED_NOT_TOLD
    assert alert.params["minutes"] == "30"
    # Told the affected user (or the public): nothing to alert on.
    views.apply("sent", like("NotificationSent", case_id="OA-1", sent_at=NOW))
    assert keys(views) == []


def test_only_telling_the_affected_user_or_the_public_counts() -> None:
    views = fold(enforced("OA-1", 31))
    views.apply(
        "brief",
        like(
            "NotificationSent",
            case_id="OA-1",
            audience=Audience.FUNCTIONARIES,
            channel="email-enwiki-to-x",
            sent_at=NOW,
        ),
    )
    views.apply("retry", like("NotificationFailed", case_id="OA-1", permanent=False, attempt=1))
    assert keys(views) == ["enforced-not-told:OA-1"]
    # Given up on for good: the notification-failed alert already names the case.
    views.apply(
        "gave-up",
        like(
            "NotificationFailed",
            case_id="OA-1",
            audience=Audience.AFFECTED_USER,
            permanent=True,
        ),
    )
    assert keys(views) == []


def test_nothing_is_expected_when_notify_tells_nobody_by_rule() -> None:
    silent = {
        "subject": AffectedUser(account="Anon", email=None),
        "disclosure": DECISION.disclosure.model_copy(update={"public_statement": False}),
    }
    views = fold(enforced("OA-QUIET", 120, **silent))
    assert keys(views) == []
    # No address, but a public statement is due: that one must be published.
    views = fold(enforced("OA-PUBLIC", 120, subject=AffectedUser(account="Anon", email=None)))
    assert keys(views) == ["enforced-not-told:OA-PUBLIC"]


def test_a_case_enforcement_gave_up_on_is_alerted_once_already() -> None:
    views = fold(
        approved("OA-1", 60),
        like("EnforcementFailed", case_id="OA-1", permanent=True, failed_at=NOW),
    )
    assert keys(views) == []  # the enforcement-failed alert names it
    views = fold(
        approved("OA-2", 60),
        like("EnforcementFailed", case_id="OA-2", permanent=False, failed_at=NOW),
    )
    assert keys(views) == ["approved-not-enforced:OA-2"]


def test_declined_reversed_and_unapproved_cases_raise_nothing() -> None:
    views = fold(
        like("CaseOpened", case_id="OA-OPEN", deadline_at=NOW + timedelta(days=9)),
        like("DecisionDeclined", case_id="OA-DECLINED"),
        approved("OA-REVERSED", 60),
        like("DecisionReversed", case_id="OA-REVERSED"),
    )
    assert keys(views, NOW + timedelta(days=1)) == []


def test_the_order_records_are_read_in_does_not_matter() -> None:
    events = [
        approved("OA-1", 60),
        enforced("OA-1", 50),
        like("NotificationSent", case_id="OA-1", sent_at=NOW - timedelta(minutes=49)),
        approved("OA-2", 60),
    ]
    for order in (events, events[::-1], events[1:] + events[:1]):
        assert keys(fold(*order)) == ["approved-not-enforced:OA-2"]


def test_the_texts_name_the_case_and_the_limit_in_both_languages() -> None:
    views = fold(approved("OA-1", 20), enforced("OA-2", 40))
    for alert in stall_alerts(views, NOW, STALLS):
        for language in ("en", "ru"):
            happened, to_do = alert_text(
                language, alert.kind, {"case_id": alert.case_id or "-", **alert.params}
            )
            assert alert.case_id is not None and alert.case_id in happened
            assert "?" not in happened
            assert alert.params["minutes"] in happened and to_do


def test_a_confidential_cases_stall_shows_only_its_id_type_and_times() -> None:
    """The alert's parameters are the case id, its action type and times: no page, no name.
    On the dashboard its texts are withheld from roles the policy does not name."""
    views = fold(approved("OA-CP", 60, action_type="child-protection"))
    [alert] = stall_alerts(views, NOW, STALLS)
    assert set(alert.params) == {"action_type", "since", "minutes"}
    text = " ".join(alert_text("en", alert.kind, {"case_id": "OA-CP", **alert.params}))
    for private in (DECISION.subject.account, "te@example.org", "enwiki"):
        assert private not in text
    happened, to_do = alert_text("en", alert.kind, {"case_id": "OA-CP", **alert.params})
    views.apply(
        "raised",
        AlertRaised(
            alert_key=alert.key,
            kind=alert.kind,
            case_id="OA-CP",
            what_happened=happened,
            what_to_do=to_do,
            raised_at=NOW,
        ),
    )
    summary = summarise(views, NOW, timedelta(hours=24), lambda c: f"http://review/{c}")
    shown = redact(summary, views, POLICY.access.confidential_action_types)
    [row] = [a for a in shown["alerts"] if a["case_id"] == "OA-CP"]
    assert row["what_happened"] == WITHHELD and row["what_to_do"] == WITHHELD


# --- the clock tick, over a real store --------------------------------------------------------


async def _never(topic: str, event: CloudEvent) -> None:
    raise AssertionError("the relay does not run in these tests")


@pytest.fixture
async def tracker(store: DocumentStore) -> AsyncIterator[tuple[Tracker, list[datetime]]]:
    now = [NOW]
    book = AlertBook(
        store,
        OutboxRelay(store, _never),
        language="en",
        ops_address="ops@example.org",
        case_url=lambda case_id: f"http://review/console/cases/{case_id}",
        clock=lambda: now[0],
    )
    await book.load()
    yield (
        Tracker(
            Views(HANDLERS),
            book,
            at_risk_window=timedelta(hours=24),
            quiet_seconds=0,
            clock=lambda: now[0],
            stalls=STALLS,
        ),
        now,
    )


async def raised(store: DocumentStore) -> list[AlertRaised]:
    out = []
    for entry in await store.pending_outbox(limit=1000):
        data = from_cloudevent(entry.event)
        assert isinstance(data, AlertRaised)
        out.append(data)
    return out


async def test_each_tick_raises_a_stalled_case_once(
    tracker: tuple[Tracker, list[datetime]], store: DocumentStore
) -> None:
    ticker, now = tracker
    ticker.views.apply("a1", approved("OA-STUCK", 0))
    assert await ticker.check_clock() == 0
    now[0] = NOW + timedelta(minutes=15)
    assert await ticker.check_clock() == 1
    now[0] = NOW + timedelta(minutes=16)
    assert await ticker.check_clock() == 0
    [alert] = await raised(store)
    assert alert.alert_key == "approved-not-enforced:OA-STUCK"
    assert alert.case_url == "http://review/console/cases/OA-STUCK"
    assert alert.ops_address == "ops@example.org"
    assert "OA-STUCK" in alert.what_happened and "15" in alert.what_happened
    # Enforced late and never told: a second, different alert, also once.
    ticker.views.apply("e1", enforced("OA-STUCK", -16))
    now[0] = NOW + timedelta(minutes=16 + 30)
    assert await ticker.check_clock() == 1
    assert await ticker.check_clock() == 0
    assert sorted(a.alert_key for a in await raised(store)) == [
        "approved-not-enforced:OA-STUCK",
        "enforced-not-told:OA-STUCK",
    ]


# --- the monitor as its own process, with limits of seconds -------------------------------------


def monitor_process(broker: TansuBroker, data_dir: Path, policy_file: Path) -> ServiceProcess:
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "KAFKA_SESSION_TIMEOUT_MS": "1500",
        "CASEWORK_DATA_DIR": str(data_dir),
        "CASEWORK_POLICY_FILE": str(policy_file),
        "MONITOR_PORT": str(port),
        "MONITOR_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "REVIEW_PUBLIC_URL": "http://review.example.test",
        "MONITOR_TICK_SECONDS": "0.5",
        "MONITOR_QUIET_SECONDS": "1",
    }
    return ServiceProcess("monitor", port, env, data_dir / "logs")


@pytest.fixture(scope="module")
def quick_monitor(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TansuBroker, ServiceProcess]]:
    """A broker of its own and the monitor (`python -m services.monitor`) under a policy
    whose `monitor:` limits are about a second."""
    data_dir = tmp_path_factory.mktemp("stalls")
    install_keys(data_dir)
    raw = yaml.safe_load((ROOT / "policy" / "office-actions.yaml").read_text("utf-8"))
    raw["monitor"] = {"enforced_within_minutes": 0.02, "told_within_minutes": 0.02}
    policy_file = data_dir / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    broker = TansuBroker(free_port())
    broker.start()
    process = monitor_process(broker, data_dir, policy_file)
    process.start()
    try:
        process.wait_healthy(60)
        yield broker, process
    finally:
        process.stop()
        broker.stop()


@pytest.mark.timeout(120)
async def test_the_running_monitor_raises_each_stall_once_by_its_clock(
    quick_monitor: tuple[TansuBroker, ServiceProcess],
) -> None:
    broker, _ = quick_monitor
    now = datetime.now(UTC)
    pub = EventPublisher(broker.settings(client_id="stalls-pub"))
    await pub.start()
    try:
        for data in (
            approved("OA-NEVERENFORCED", 0).model_copy(update={"approved_at": now}),
            enforced("OA-NEVERTOLD", 0).model_copy(update={"enforced_at": now}),
            enforced("OA-TOLD", 0).model_copy(update={"enforced_at": now}),
            like("NotificationSent", case_id="OA-TOLD", sent_at=now),
        ):
            await pub.publish(topic_of(data.PRODUCER), to_cloudevent(data))
    finally:
        await pub.stop()

    async def alerts() -> list[AlertRaised]:
        found = []
        for record in await read_all(broker.settings(), [topic_of("monitor")]):
            event = from_kafka(record.key, record.value, record.headers)
            if event.type == AlertRaised.TYPE:
                found.append(AlertRaised.model_validate(event.data))
        return found

    async def both() -> list[AlertRaised] | None:
        found = await alerts()
        return found if len(found) >= 2 else None

    raised = await eventually(both, timeout=60, what="the two stall alerts")
    assert sorted(a.alert_key for a in raised) == [
        "approved-not-enforced:OA-NEVERENFORCED",
        "enforced-not-told:OA-NEVERTOLD",
    ]
    assert all(a.case_url and a.case_id and a.case_id in a.case_url for a in raised)
    # Ticks went on finding the same two stalls: a later stall's alert comes alone.
    pub = EventPublisher(broker.settings(client_id="stalls-pub-2"))
    await pub.start()
    try:
        marker = approved("OA-MARKER", 0).model_copy(update={"approved_at": datetime.now(UTC)})
        await pub.publish(topic_of("review"), to_cloudevent(marker))
    finally:
        await pub.stop()

    async def marker_raised() -> list[AlertRaised] | None:
        found = await alerts()
        return found if any(a.case_id == "OA-MARKER" for a in found) else None

    keys = sorted(a.alert_key for a in await eventually(marker_raised, timeout=30, what="marker"))
    assert keys == [
        "approved-not-enforced:OA-MARKER",
        "approved-not-enforced:OA-NEVERENFORCED",
        "enforced-not-told:OA-NEVERTOLD",
    ]


@pytest.mark.timeout(120)
def test_a_bad_monitor_section_stops_the_monitor_at_start_as_a_bad_file_does(
    quick_monitor: tuple[TansuBroker, ServiceProcess], tmp_path: Path
) -> None:
    """The kernel takes the section as a mapping; the monitor's own check refuses it while
    wiring, and the service exits as it does on a file the kernel refuses: status 1, and
    `error:`, the file, the key and the rule."""
    broker, _ = quick_monitor
    raw = yaml.safe_load((ROOT / "policy" / "office-actions.yaml").read_text("utf-8"))
    outcomes = []
    for name, change, message in (
        (
            "section",
            ("monitor", {"action_types": {"no-such-action": {}}}),
            "monitor.action_types.no-such-action: unknown action type",
        ),
        ("file", ("escalation_matrix", {"x": 1}), "escalation_matrix: Extra inputs"),
    ):
        policy_file = tmp_path / f"{name}.yaml"
        policy_file.write_text(yaml.safe_dump({**raw, change[0]: change[1]}), "utf-8")
        install_keys(tmp_path / name)
        process = monitor_process(broker, tmp_path / name, policy_file)
        process.start()
        try:
            code = process.wait_exit(60)
        finally:
            process.stop()
        assert f"error: {policy_file}: {message}" in process.log_tail(), process.log_tail()
        outcomes.append(code)
    assert outcomes == [1, 1]

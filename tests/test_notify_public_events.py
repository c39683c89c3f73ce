"""Notify's public-level events (casework.contract.public) over real parts: SQLite, the
sandbox MediaWiki, an aiosmtpd server, the Tansu broker (the outbox relayed to
``officeactions.public`` and read back from it), and a DSA API applying the database's rules.

Each input is delivered twice (or after a restart): each event is on the topic once.
Nothing is said of a confidential action, nor of an appeal or inquiry about one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from casework.cloudevents import CloudEvent
from casework.contract import (
    PUBLIC_TOPIC,
    ActionEnforced,
    CaseOpened,
    DecisionReversed,
    InquiryAnswered,
    SubmissionReceived,
    to_cloudevent,
)
from casework.kafka import EventPublisher, KafkaSettings, ensure_topics
from casework.mediawiki import MediaWikiClient
from casework.outbox import OutboxRelay
from casework.store import DocumentStore
from services.notify.adapters.deliveries import Deliveries
from services.notify.adapters.transparency import DsaClient
from services.notify.usecases.transparency_submission import TransparencySubmitter
from tests.fixtures.broker import kafka_broker, kafka_settings  # noqa: F401
from tests.fixtures.keys import reversal_approvals, signed
from tests.support import topic_events
from tests.test_notify_delivery import (  # noqa: F401  (fixtures)
    LOG_PAGE,
    NOW,
    POLICY,
    USER,
    Inbox,
    Service,
    approve_and_enforce,
    decision,
    enforced_event,
    inbox,
    notifier,
    store,
    wiki,
)
from tests.test_notify_transparency import TOKEN, RulesServer, rules_server  # noqa: F401

OPENED = NOW - timedelta(days=3)
DEADLINE = NOW + timedelta(days=11)
ASKER = {"name": "Quinn Asker", "email": "quinn@asker.example", "language": "en"}
SECRETS = ("SECRET", USER, "quinn@asker.example", "bob-the-staffer")


def case_id(label: str) -> str:
    """Unique per test run: the session's broker keeps the topic between tests."""
    return f"OA-{label}{uuid.uuid4().hex[:8].upper()}"


async def public_events(store: DocumentStore) -> list[dict[str, Any]]:
    """What notify put in its outbox for the portal's topic (type and data)."""
    return [
        {"type": e.event.type.split(".")[2], **e.event.data}
        for e in await store.pending_outbox(1000)
        if e.topic == PUBLIC_TOPIC
    ]


def of(events: list[dict[str, Any]], kind: str, case: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind and e["case_id"] == case]


def opened(case: str, **changes: Any) -> CloudEvent:
    fields: dict[str, Any] = {
        "case_id": case,
        "submission_id": f"R-{case}",
        "action_type": "global-ban",
        "routed_to": "support-and-safety",
        "opened_at": OPENED.isoformat(),
        "deadline_at": DEADLINE.isoformat(),
    }
    return to_cloudevent(CaseOpened.model_validate(fields | changes))


def inquiry_submitted(case: str, about: str, questions: int) -> CloudEvent:
    received = SubmissionReceived.model_validate(
        {
            "submission_id": f"R-{case}",
            "kind": "inquiry",
            "channel": "api",
            "action_type": None,
            "routed_to": "support-and-safety",
            "summary": "Questions about an office action.",
            "requester": ASKER,
            "received_at": (OPENED - timedelta(hours=2)).isoformat(),
            "refers_to": about,
            "questions": [f"Question {n}?" for n in range(questions)],
        }
    )
    return to_cloudevent(received)


def answered(case: str, about: str, **changes: Any) -> CloudEvent:
    fields: dict[str, Any] = {
        "case_id": case,
        "about_case_id": about,
        "answers": [
            {"question": "Which clauses?", "outcome": "answered", "text": "ToU section 4."},
            {"question": "Who reported it?", "outcome": "refused", "text": "Safety of others."},
        ],
        "requester": ASKER,
        "answered_by": "bob-the-staffer",
        "answered_at": NOW.isoformat(),
    }
    return signed(InquiryAnswered.model_validate(fields | changes))


async def twice(service: Service, event: CloudEvent) -> None:
    await service.handle(event)
    await service.handle(event)


def leaks(events: list[dict[str, Any]]) -> list[str]:
    text = repr(events)
    return [s for s in SECRETS if s in text]


@pytest.fixture
async def relayed(
    store: DocumentStore,
    kafka_settings: KafkaSettings,
) -> AsyncIterator[OutboxRelay]:
    """A relay to the broker, drained by the test (``drain_once``)."""
    await ensure_topics(kafka_settings, [PUBLIC_TOPIC])
    publisher = EventPublisher(kafka_settings)
    await publisher.start()
    try:
        yield OutboxRelay(store, publisher.publish)
    finally:
        await publisher.stop()


async def on_the_topic(
    relay: OutboxRelay, settings: KafkaSettings, cases: set[str]
) -> list[CloudEvent]:
    await relay.drain_once()
    events = await topic_events(settings.bootstrap_servers, PUBLIC_TOPIC)
    return [e for e in events if e.subject in cases]


async def test_a_published_action_is_on_the_public_topic_once(
    store: DocumentStore,
    wiki: MediaWikiClient,
    inbox: tuple[Inbox, int],
    relayed: OutboxRelay,
    kafka_settings: KafkaSettings,
) -> None:
    _, port = inbox
    case = case_id("PUB")
    service = notifier(store, wiki, port)
    await twice(service, opened(case))
    await approve_and_enforce(service, case)
    await approve_and_enforce(notifier(store, wiki, port), case)  # redelivered after a restart
    [event] = of(await public_events(store), "statement-published", case)
    page = await wiki.page(LOG_PAGE)
    assert page is not None
    assert event["log_entry"]["page"] == LOG_PAGE
    assert event["log_entry"]["revision_id"] == page.revid
    assert event["revision"] == 1 and event["action_type"] == "global-ban"
    assert event["language"] == "ru" and event["account"] == "Vandal"
    assert event["requested_at"].startswith(OPENED.date().isoformat())
    assert event["decided_at"] is not None and event["enforced_on"] == ["sandbox"]
    english, russian = event["statements"]
    assert (english["language"], russian["language"]) == ("en", "ru")
    assert english["action_title"] == "Global ban" and russian["action_title"] == "Глобальный бан"
    answers = {a["question"]: a for a in english["answers"]}
    assert len(answers) == 5
    assert answers["public-actions"]["lines"] == [
        "personal attack <https://sandbox.test/diff/1> (on-wiki, publicly visible)"
    ]
    assert answers["legal-determination"]["lines"] == [
        "No legal determination was made in this case."
    ]
    assert any("Terms of Use" in line for line in answers["clauses"]["lines"])
    assert not any("'''" in line for a in english["answers"] for line in a["lines"])
    assert leaks([event]) == []
    [on_topic] = await on_the_topic(relayed, kafka_settings, {case})
    assert on_topic.type.endswith("statement-published.v1")
    assert on_topic.data["log_entry"] == event["log_entry"]


async def test_a_confidential_action_and_what_refers_to_it_say_nothing_public(
    store: DocumentStore,
    wiki: MediaWikiClient,
    inbox: tuple[Inbox, int],
) -> None:
    _, port = inbox
    case, appeal, inquiry = case_id("SEC"), case_id("APL"), case_id("INQ")
    service = notifier(store, wiki, port)
    await service.handle(opened(case))
    await approve_and_enforce(
        service, case, disclosure={"public_statement": False, "confidential_grounds": "x"}
    )
    await service.handle(opened(appeal, kind="appeal", linked_to=case))
    await service.handle(inquiry_submitted(inquiry, case, 1))
    await service.handle(opened(inquiry, kind="inquiry", linked_to=case))
    await service.handle(answered(inquiry, case))
    events = await public_events(store)
    assert events == []
    records = {d["channel"]: d for d in await Deliveries(store).of_case(case)}
    assert records["wiki-page"]["state"] == "withheld" and "portal" not in records


async def test_a_reversal_and_an_upheld_appeal_once_each(
    store: DocumentStore,
    wiki: MediaWikiClient,
    inbox: tuple[Inbox, int],
    relayed: OutboxRelay,
    kafka_settings: KafkaSettings,
) -> None:
    _, port = inbox
    case, appeal = case_id("REV"), case_id("APL")
    service = notifier(store, wiki, port)
    # The appeal is read before notify published the statement: it waits for it.
    await twice(service, opened(appeal, kind="appeal", linked_to=case, opened_at=NOW.isoformat()))
    assert of(await public_events(store), "appeal-filed", appeal) == []
    await approve_and_enforce(service, case)
    reversal = signed(
        DecisionReversed.model_validate(
            {
                "case_id": case,
                "decision": decision(),
                "reason": "Appeal upheld: the account was compromised.",
                "reversed_by": "bob-the-staffer",
                "appeal_case_id": appeal,
                "reversed_at": (NOW + timedelta(days=1)).isoformat(),
                "grounds": "appeal-upheld",
                "approvals": [
                    a.model_dump(mode="json") | {"comment": "SECRET approval"}
                    for a in reversal_approvals(POLICY, 4, NOW)
                ],
            }
        )
    )
    await twice(service, reversal)
    events = await public_events(store)
    [filed] = of(events, "appeal-filed", appeal)
    assert filed["about_case_id"] == case
    [reversed_] = of(events, "reversal-published", case)
    assert reversed_["grounds"] == "appeal-upheld" and reversed_["appeal_case_id"] == appeal
    assert reversed_["reason"] == "Appeal upheld: the account was compromised."
    page = await wiki.page(LOG_PAGE)
    assert page is not None and reversed_["log_entry"]["revision_id"] == page.revid
    [decided] = of(events, "appeal-decided", appeal)
    assert decided["outcome"] == "upheld" and decided["about_case_id"] == case
    assert leaks(events) == []
    topic = await on_the_topic(relayed, kafka_settings, {case, appeal})
    kinds = sorted(e.type.split(".")[2] for e in topic)
    assert kinds == ["appeal-decided", "appeal-filed", "reversal-published", "statement-published"]


async def test_inquiries_received_and_answered_named_anonymous_and_held_back(
    store: DocumentStore,
    wiki: MediaWikiClient,
    inbox: tuple[Inbox, int],
) -> None:
    _, port = inbox
    case = case_id("ASK")
    named, anonymous, held = case_id("NAM"), case_id("ANO"), case_id("HLD")
    service = notifier(store, wiki, port)
    await approve_and_enforce(service, case)
    for inquiry in (named, anonymous, held):
        await twice(service, inquiry_submitted(inquiry, case, 2))
        await twice(service, opened(inquiry, kind="inquiry", linked_to=case))
    asker = ASKER | {"named_publicly": True}
    paused = DEADLINE + timedelta(days=2)  # review's due date, pauses included
    await twice(service, answered(named, case, requester=asker, deadline_at=paused.isoformat()))
    await twice(service, answered(anonymous, case))
    withheld = {"held_back": True, "held_back_grounds": "The answers name a third party."}
    await twice(service, answered(held, case, **withheld))
    events = await public_events(store)
    for inquiry in (named, anonymous, held):
        [received] = of(events, "inquiry-received", inquiry)
        assert received["about_case_id"] == case and received["question_count"] == 2
        assert received["asked_at"].startswith((OPENED - timedelta(hours=2)).date().isoformat())
        assert received["deadline_at"].startswith(DEADLINE.date().isoformat())
    [told] = of(events, "inquiry-answer-published", named)
    assert told["asker_name"] == "Quinn Asker"
    assert [a["outcome"] for a in told["answers"]] == ["answered", "refused"]
    assert told["deadline_at"].startswith(paused.date().isoformat())
    [unnamed] = of(events, "inquiry-answer-published", anonymous)
    assert unnamed["asker_name"] is None and unnamed["answers"] == told["answers"]
    assert unnamed["deadline_at"].startswith(DEADLINE.date().isoformat())  # kept at opening
    [kept] = of(events, "inquiry-answer-published", held)
    assert kept["held_back"] is True and kept["answers"] == []
    assert kept["held_back_grounds"] == "The answers name a third party."
    assert "ToU section 4." not in repr(kept)
    assert "Quinn Asker" not in repr([e for e in events if e["case_id"] != named])
    assert leaks(events) == []


async def test_an_inquiry_answered_before_its_action_was_published_waits_for_it(
    store: DocumentStore,
    wiki: MediaWikiClient,
    inbox: tuple[Inbox, int],
) -> None:
    _, port = inbox
    case, inquiry = case_id("EAR"), case_id("INQ")
    service = notifier(store, wiki, port)
    await service.handle(inquiry_submitted(inquiry, case, 2))
    await service.handle(opened(inquiry, kind="inquiry", linked_to=case))
    await twice(service, answered(inquiry, case))
    assert await public_events(store) == []  # nothing said of an unpublished case
    await approve_and_enforce(service, case)
    await approve_and_enforce(service, case)
    events = await public_events(store)
    assert len(of(events, "statement-published", case)) == 1
    assert len(of(events, "inquiry-received", inquiry)) == 1
    [told] = of(events, "inquiry-answer-published", inquiry)
    assert told["about_case_id"] == case and len(told["answers"]) == 2


async def test_a_lost_statement_event_is_published_when_reconciliation_handles_it_again(
    store: DocumentStore,
    wiki: MediaWikiClient,
    inbox: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crash after the log page's edit was recorded and before the portal's record:
    the enforcement is not settled, and handling it again publishes the event once."""
    _, port = inbox
    case = case_id("RCN")
    service = notifier(store, wiki, port)

    async def crash(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("the store went away")

    with monkeypatch.context() as patched:
        patched.setattr(service.notify.sender.deliveries, "publish", crash)
        with pytest.raises(ConnectionError):
            await approve_and_enforce(service, case)
    enforced = ActionEnforced.model_validate(enforced_event(case).data)
    assert of(await public_events(store), "statement-published", case) == []
    assert not await service.notify.enforcement.settled(enforced)
    await service.handle(enforced_event(case))
    assert await service.notify.enforcement.settled(enforced)
    await service.handle(enforced_event(case))
    assert len(of(await public_events(store), "statement-published", case)) == 1
    page = await wiki.page(LOG_PAGE)
    assert page is not None and page.text.count(f"casework:{case}") == 1


async def test_a_dsa_submission_is_told_for_a_public_case_only(
    store: DocumentStore,
    wiki: MediaWikiClient,
    inbox: tuple[Inbox, int],
    rules_server: tuple[RulesServer, str],
) -> None:
    _, port = inbox
    public, confidential = case_id("DSA"), case_id("CNF")
    service = notifier(store, wiki, port)
    await approve_and_enforce(service, public)
    await approve_and_enforce(
        service, confidential, disclosure={"public_statement": False, "confidential_grounds": "x"}
    )
    server, url = rules_server
    async with aiohttp.ClientSession() as session:
        submitter = TransparencySubmitter(store, DsaClient(session, url, TOKEN), None)
        assert await submitter.flush() == 2  # both statements go to the database
        assert await submitter.flush() == 0
    assert server.batches == [2]
    events = await public_events(store)
    [told] = of(events, "dsa-statement-submitted", public)
    stored = await store.get("dsa_statements", f"{public}:r1")
    assert stored is not None
    assert told["puid"] == stored["statement"]["puid"] and told["revision"] == 1
    assert told["dsa_id"] == stored["answer"]["uuid"]
    assert [e for e in events if e["case_id"] == confidential] == []

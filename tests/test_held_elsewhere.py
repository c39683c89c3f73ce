"""An effect another instance is doing (HeldElsewhere) is waited out, never failed.

The consumer reads such an event again after a backoff without counting an attempt, so
however often it is held it is never dead-lettered; an event that fails as often is. The
reconciliation duty stops its pass before a held gap without counting or reporting it and
finishes it on a later pass. Over the real broker, and a real ledger (HTTP) and SQLite.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from casework.claims import HeldElsewhere
from casework.cloudevents import CloudEvent
from casework.kafka import EventConsumer, EventPublisher, KafkaSettings, ensure_topics
from casework.ledger import LEDGER_PATH
from casework.reconcile import CURSORS, LedgerClient
from casework.store import DocumentStore
from tests.fixtures.broker import unique
from tests.support import eventually, running, topic_events
from tests.test_consumer_batch import committed, consumer_of
from tests.test_reconcile import (  # noqa: F401 (store and ledger_url are fixtures)
    TOKEN,
    Downstream,
    downstream_store,
    event,
    ledger_url,
    publish,
    reconciler,
    store,
)

REFUSALS = 3  # more than the attempts the consumer allows a failing handler


def held() -> HeldElsewhere:
    return HeldElsewhere("deliveries", "k", "notify-2")


async def consume_one_refused_event(
    settings: KafkaSettings, publisher: EventPublisher, refusal: type[Exception]
) -> tuple[EventConsumer, int, list[CloudEvent], str]:
    """Publish one event whose handler raises ``refusal`` on its first REFUSALS calls and
    then succeeds; consume it with ``retry_max_attempts=2`` until its offset is committed.
    Returns the consumer, the handler's successes, the dead-letter topic's events and the
    event's id."""
    topics = unique("held"), unique("held-dlq")
    await ensure_topics(settings, list(topics), partitions=1)
    sent = CloudEvent(
        type="case.test", source="tests/test_held_elsewhere", subject="OA-1", data={"n": 1}
    )
    await publisher.publish(topics[0], sent)
    calls: Counter[str] = Counter()
    successes = 0

    async def handle(item: CloudEvent) -> None:
        nonlocal successes
        calls[item.id] += 1
        if calls[item.id] <= REFUSALS:
            raise held() if refusal is HeldElsewhere else refusal("down for now")
        successes += 1

    group = unique("g")
    two_attempts = replace(settings, retry_max_attempts=2)
    consumer = consumer_of(two_attempts, publisher, topics, group, handle)
    async with running(consumer):

        async def offset_committed() -> bool:
            return await committed(settings, group, topics[0]) == 1

        await eventually(offset_committed, timeout=15, what="the offset committed")
    dead = await topic_events(settings.bootstrap_servers, topics[1])
    return consumer, successes, dead, sent.id


async def test_an_event_held_elsewhere_is_handled_once_it_is_free_and_never_dead_lettered(
    kafka_settings: KafkaSettings, publisher: EventPublisher
) -> None:
    """Held three times with two attempts allowed: waited out, not one attempt counted."""
    consumer, successes, dead, _ = await consume_one_refused_event(
        kafka_settings, publisher, HeldElsewhere
    )
    assert successes == 1
    assert dead == [] and consumer.dead_lettered == 0
    assert consumer.held_elsewhere == REFUSALS
    assert consumer.retried == 0
    assert consumer.handled == 1


async def test_an_event_failing_as_often_is_dead_lettered(
    kafka_settings: KafkaSettings, publisher: EventPublisher
) -> None:
    """The contrast: the same refusals as ordinary failures use up the two attempts."""
    consumer, successes, dead, sent_id = await consume_one_refused_event(
        kafka_settings, publisher, RuntimeError
    )
    assert successes == 0
    assert consumer.dead_lettered == 1 and consumer.retried == 1
    assert len(dead) == 1 and dead[0].id == sent_id  # the dead letter keeps the event's id
    assert consumer.held_elsewhere == 0 and consumer.handled == 0


async def test_a_gap_held_elsewhere_stops_the_pass_unreported_until_it_is_free(
    store: DocumentStore,
    ledger_url: str,
) -> None:
    """Held for more passes in a row than ``give_up_after``: never reported, never
    counted, the cursor kept before it; finished on the first pass it is free."""
    await publish(store, [event("OA-DONE"), event("OA-HELD"), event("OA-AFTER")])
    reader = LedgerClient(ledger_url.removesuffix(LEDGER_PATH), TOKEN)
    try:
        seq = {item.case_id: item.seq for item in (await reader.page(0, 10)).items}
    finally:
        await reader.close()
    own = await downstream_store()
    passes_held = 3

    def refuse(item: CloudEvent) -> None:
        if item.subject == "OA-HELD" and down.calls.count("OA-HELD") <= passes_held:
            raise held()

    try:
        down = Downstream(own, fail=refuse)
        for case in ("OA-DONE", "OA-AFTER"):  # the consumer handled these
            await own.insert("effects", {"_id": case})
        duty = reconciler(ledger_url, down, give_up_after=2)
        for n in range(1, passes_held + 1):
            await duty.reconcile()
            assert down.calls == ["OA-HELD"] * n  # the pass stopped at it
            assert down.reports == [] and duty.unfinishable == 0 and duty.finished == 0
            cursor = await own.get(CURSORS, "review")
            assert cursor is not None and cursor["after"] == seq["OA-DONE"]
        await duty.reconcile()
        assert down.calls == ["OA-HELD"] * (passes_held + 1)
        assert await down.handled(event("OA-HELD"))
        assert duty.finished == 1 and duty.unfinishable == 0 and down.reports == []
        cursor = await own.get(CURSORS, "review")
        assert cursor is not None and cursor["after"] >= seq["OA-AFTER"]
    finally:
        await own.close()

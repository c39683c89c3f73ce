"""Reconciliation on the real stack: an event the downstream never read is finished from the
upstream's ledger alone, once; what cannot be finished raises the monitor's alert.

Every service is its own process over the real Tansu broker, the sandbox MediaWiki and a
real SMTP server (tests/fixtures/stack.py). The loss is made real and narrow: with the
downstream service stopped, its consumer group's committed offsets on the upstream's topic
are moved to the end (as an operator's offset reset, or a group that lost its place,
does), so its consumer never reads the event; the bus watch sees nothing wrong (every
record is still there). Only the reconciliation duty can then finish the case.
"""

from __future__ import annotations

import asyncio
import email
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition

from casework.cloudevents import from_kafka
from casework.contract import AffectedUser, to_cloudevent, topic_of
from casework.contract.monitor import AlertKind, AlertRaised
from casework.ledger import LEDGER_PATH
from casework.mediawiki import MediaWikiClient
from casework.signing import generate_key_pair, load_signer
from casework.trust import sign_event
from deploy.sandbox_wiki import SandboxWiki
from services.monitor.adapters.reader import read_all
from services.review.domain.opening import case_id_for
from tests.fixtures.stack import Stack, running_stack
from tests.support import eventually, free_port
from tests.test_end_to_end import approve, case_opened, messages_to, metric, submit, token
from tests.test_enforcement_domain import approved

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
RECONCILE_SECONDS = 1.5
LOG_PAGE = "Office actions log"


@pytest.fixture(scope="module")
def stack(sandbox_wiki: SandboxWiki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    extra = {"CASEWORK_RECONCILE_SECONDS": str(RECONCILE_SECONDS)}
    with running_stack(sandbox_wiki, tmp_path_factory.mktemp("reconcile"), extra) as running:
        yield running


def pair_token(stack: Stack, upstream: str) -> str:
    return (stack.data_dir / "keys" / f"ledger-{upstream}.token").read_text().strip()


async def listed(
    http: aiohttp.ClientSession, stack: Stack, upstream: str, case_id: str, event_type: str
) -> None:
    """Wait until the upstream's ledger lists ``case_id``'s event: it was published."""

    async def probe() -> bool:
        after = 0
        while True:
            async with http.get(
                f"{stack.url(upstream)}{LEDGER_PATH}",
                params={"after": str(after), "limit": "500"},
                headers={"Authorization": f"Bearer {pair_token(stack, upstream)}"},
            ) as reply:
                assert reply.status == 200, await reply.text()
                body = await reply.json()
            if any(
                i["case_id"] == case_id and i["event"]["type"].endswith(event_type)
                for i in body["items"]
            ):
                return True
            if not body["more"]:
                return False
            after = body["next"]

    await eventually(probe, timeout=60, what=f"{upstream}'s ledger to list {case_id}")


async def skip_unread(stack: Stack, service: str, upstream: str) -> None:
    """Move ``service``'s committed offsets on ``upstream``'s topic to the end: what is
    there now its consumer will never read."""
    settings = stack.broker.settings(client_id=f"skip-{service}")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"casework-{service}",
        enable_auto_commit=False,
        **settings.client_options(),
    )
    await consumer.start()
    try:
        topic = topic_of(upstream)
        assert topic in await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: ends[tp] for tp in partitions})
        for tp in partitions:
            assert await consumer.committed(tp) == ends[tp]
    finally:
        await consumer.stop()


async def stop(stack: Stack, service: str) -> None:
    await asyncio.to_thread(stack.services[service].stop)


async def start(stack: Stack, service: str, extra_env: dict[str, str] | None = None) -> None:
    process = stack.start_service(service, extra_env)
    await asyncio.to_thread(process.wait_healthy, 60)


async def metrics_of(http: aiohttp.ClientSession, stack: Stack, service: str) -> str:
    async with http.get(f"{stack.url(service)}/metrics") as reply:
        return await reply.text()


def counted(text: str, name: str, upstream: str) -> float:
    """A duty's counter (labelled by upstream) in a /metrics page."""
    return metric(text, f'{name}{{upstream="{upstream}"}}')


async def finished_one(
    http: aiohttp.ClientSession, stack: Stack, service: str, upstream: str
) -> float:
    """Once the duty counted the gap it finished (just after the effect shows): its passes."""

    async def probe() -> float | None:
        text = await metrics_of(http, stack, service)
        if counted(text, "reconcile_gaps_finished", upstream):
            return counted(text, "reconcile_passes", upstream)
        return None

    return await eventually(probe, timeout=30, what=f"{service}'s duty to count its gap")


async def passes_after(
    http: aiohttp.ClientSession, stack: Stack, service: str, upstream: str, n: float
) -> str:
    """Metrics of ``service`` once its duty has made two passes more than ``n``."""

    async def probe() -> str | None:
        text = await metrics_of(http, stack, service)
        return text if counted(text, "reconcile_passes", upstream) >= n + 2 else None

    return await eventually(probe, timeout=30, what=f"two more passes of {service}'s duty")


async def create_account(stack: Stack, account: str) -> None:
    await asyncio.to_thread(
        stack.wiki.maintenance, "createAndPromote.php", account, f"{account.lower()}-password-e2e"
    )


@pytest.mark.parametrize("upstream", ["intake", "review", "enforcement"])
async def test_each_ledger_refuses_without_the_pairs_token_and_names_bad_parameters(
    stack: Stack, http: aiohttp.ClientSession, upstream: str
) -> None:
    url = f"{stack.url(upstream)}{LEDGER_PATH}"
    pairs = ("intake", "review", "review-notify", "enforcement")
    others = [pair_token(stack, u) for u in pairs if not u.startswith(upstream)]
    refused = [{}, token("alice"), *({"Authorization": f"Bearer {t}"} for t in others)]
    for headers in refused:  # nobody, a staff member, another pair's service
        async with http.get(url, params={"limit": "0"}, headers=headers) as reply:
            assert reply.status == 401, headers
            assert (await reply.json())["errors"] == []
    readers = [u for u in pairs if u.startswith(upstream)]  # review has two: one per pair
    for reader in readers:
        mine = {"Authorization": f"Bearer {pair_token(stack, reader)}"}
        async with http.get(url, params={"after": "x", "limit": "0"}, headers=mine) as reply:
            assert reply.status == 400
            assert sorted(e["field"] for e in (await reply.json())["errors"]) == ["after", "limit"]
        async with http.get(url, headers=mine) as reply:
            assert reply.status == 200
            assert set(await reply.json()) == {"items", "next", "more"}


async def test_a_submission_review_never_read_becomes_a_case_by_reconciliation(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    await stop(stack, "review")
    reference = await submit(http, stack, "Reconcile1")
    await listed(http, stack, "intake", reference, "submission-received.v1")
    await skip_unread(stack, "review", "intake")
    await start(stack, "review")
    await case_opened(http, stack, case_id_for(reference))
    passes = await finished_one(http, stack, "review", "intake")
    text = await passes_after(http, stack, "review", "intake", passes)
    # Opened by the duty, not the consumer: the one gap this fresh process finished.
    assert counted(text, "reconcile_gaps_finished", "intake") == 1
    assert counted(text, "reconcile_gaps_unfinishable", "intake") == 0
    assert counted(text, "reconcile_items_checked", "intake") >= 1


async def test_an_approval_enforcement_never_read_is_enforced_once(
    stack: Stack, http: aiohttp.ClientSession, wiki_client: MediaWikiClient
) -> None:
    account = "Reconcile2"
    await create_account(stack, account)
    reference = await submit(http, stack, account)
    case_id = case_id_for(reference)
    await case_opened(http, stack, case_id)
    await stop(stack, "enforcement")
    await approve(http, stack, case_id, account)
    await listed(http, stack, "review", case_id, "decision-approved.v1")
    await skip_unread(stack, "enforcement", "review")
    await start(stack, "enforcement")

    async def blocked() -> list[Any] | None:
        found = [b for b in await wiki_client.active_blocks(account) if case_id in b.reason]
        return found or None

    await eventually(blocked, timeout=60, what=f"the block of {account}")
    passes = await finished_one(http, stack, "enforcement", "review")
    text = await passes_after(http, stack, "enforcement", "review", passes)
    assert len([b for b in await wiki_client.active_blocks(account) if case_id in b.reason]) == 1
    assert counted(text, "reconcile_gaps_finished", "review") == 1
    assert counted(text, "reconcile_gaps_unfinishable", "review") == 0


async def test_an_enforcement_notify_never_read_is_told_once(
    stack: Stack, http: aiohttp.ClientSession, wiki_client: MediaWikiClient
) -> None:
    account = "Reconcile3"
    address = f"{account.lower()}@sandbox.test"
    await create_account(stack, account)
    reference = await submit(http, stack, account)
    case_id = case_id_for(reference)
    await case_opened(http, stack, case_id)
    await stop(stack, "notify")
    await approve(http, stack, case_id, account)
    await listed(http, stack, "enforcement", case_id, "action-enforced.v1")
    # Neither review's approval nor enforcement's report: both come from the ledgers.
    await skip_unread(stack, "notify", "review")
    await skip_unread(stack, "notify", "enforcement")
    await start(stack, "notify")

    async def told() -> list[Any] | None:
        return messages_to(stack, address) or None

    await eventually(told, timeout=60, what=f"the email to {address}")

    async def stated() -> bool:
        page = await wiki_client.page(LOG_PAGE)
        return page is not None and case_id in page.text

    await eventually(stated, timeout=60, what=f"the public statement of {case_id}")
    await finished_one(http, stack, "notify", "review")
    passes = await finished_one(http, stack, "notify", "enforcement")
    text = await passes_after(http, stack, "notify", "enforcement", passes)
    assert counted(text, "reconcile_gaps_finished", "review") == 1
    assert counted(text, "reconcile_gaps_finished", "enforcement") == 1
    assert len(messages_to(stack, address)) == 1
    ids = [email.message_from_bytes(bytes(kept))["Message-ID"] for kept in stack.mail.messages()]
    assert len(ids) == len(set(ids))
    page = await wiki_client.page(LOG_PAGE)
    assert page is not None and page.text.count(f"Office action {case_id}") <= 1
    async with http.get(f"{stack.url('review')}/api/v1/cases/{case_id}", headers=token("bob")) as r:
        outcome = (await r.json())["outcome"]
    assert outcome["status"] == "enforced"


async def test_a_forged_or_missing_upstream_event_is_not_acted_on_and_alerts(
    stack: Stack, http: aiohttp.ClientSession, wiki_client: MediaWikiClient, tmp_path: Path
) -> None:
    """Enforcement reconciling from a fake review: a decision signed by another key and a
    case listed without its event. Neither touches the wiki; each raises the monitor's
    case-unreconciled alert naming the case."""
    account = "Reconcile4"
    await create_account(stack, account)
    rogue_key, _ = generate_key_pair(tmp_path / "rogue")
    suffix = uuid.uuid4().hex[:8].upper()
    forged_id, missing_id = f"OA-FORGED{suffix}", f"OA-NOEVENT{suffix}"
    data = approved(subject=AffectedUser(account=account, email="r4@sandbox.test"))
    forged = sign_event(
        to_cloudevent(data.model_copy(update={"case_id": forged_id})), load_signer(rogue_key)
    )
    raw = forged.to_dict()
    raw["time"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    items = [
        {"seq": 1, "case_id": forged_id, "event": raw},
        {"seq": 2, "case_id": missing_id},
    ]
    expected = f"Bearer {pair_token(stack, 'review')}"
    calls: list[bool] = []

    async def ledger(request: web.Request) -> web.Response:
        calls.append(request.headers.get("Authorization") == expected)
        if not calls[-1]:
            raise web.HTTPUnauthorized()
        after = int(request.query.get("after", "0"))
        page = [i for i in items if int(str(i["seq"])) > after]
        return web.json_response({"items": page, "next": 2, "more": False})

    app = web.Application()
    app.router.add_get(LEDGER_PATH, ledger)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await stop(stack, "enforcement")
    try:
        await start(stack, "enforcement", {"CASEWORK_UPSTREAM_URL": f"http://127.0.0.1:{port}"})

        async def alerts() -> dict[str, AlertRaised] | None:
            found = {}
            for record in await read_all(stack.broker.settings(), [topic_of("monitor")]):
                event = from_kafka(record.key, record.value, record.headers)
                if event.type == AlertRaised.TYPE:
                    alert = AlertRaised.model_validate(event.data)
                    if alert.kind is AlertKind.CASE_UNRECONCILED and alert.case_id:
                        found[alert.case_id] = alert
            return found if {forged_id, missing_id} <= set(found) else None

        raised = await eventually(alerts, timeout=90, what="the case-unreconciled alerts")
        assert forged_id in raised[forged_id].what_happened
        assert "signature" in raised[forged_id].what_happened
        assert missing_id in raised[missing_id].what_happened
        assert calls and all(calls)
        text = await metrics_of(http, stack, "enforcement")
        assert counted(text, "reconcile_gaps_unfinishable", "review") >= 2
        assert counted(text, "reconcile_gaps_finished", "review") == 0
        assert await wiki_client.active_blocks(account) == []
    finally:
        await stop(stack, "enforcement")
        await start(stack, "enforcement")
        await runner.cleanup()

"""Intake's tracking reconciled from review's ledger on the real stack (every service a
process as `make run` starts it, with the pair tokens deploy/stack.py makes): a stage intake's
consumer never read still reaches the requester's tracking page.

The loss is made real and narrow as in tests/test_reconcile_stack.py: with intake stopped,
review approves the case, and intake's committed offsets on review's topic are moved past
the reports; only the reconciliation duty can then bring the page up to date.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from casework.contract import topic_of
from casework.ledger import LEDGER_PATH
from deploy.sandbox_wiki import SandboxWiki
from services.review.domain.opening import case_id_for
from tests.fixtures.stack import Stack, running_stack
from tests.support import eventually
from tests.test_end_to_end import approve, case_opened, submit
from tests.test_reconcile_stack import counted, create_account, metrics_of, start, stop

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
RECONCILE_SECONDS = 1.5


@pytest.fixture(scope="module")
def stack(sandbox_wiki: SandboxWiki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    extra = {"CASEWORK_RECONCILE_SECONDS": str(RECONCILE_SECONDS)}
    with running_stack(sandbox_wiki, tmp_path_factory.mktemp("tracking"), extra) as running:
        yield running


async def status_of(http: aiohttp.ClientSession, stack: Stack, reference: str) -> Any:
    async with http.get(f"{stack.url('intake')}/api/v1/submissions/{reference}") as reply:
        assert reply.status == 200, await reply.text()
        return await reply.json()


async def reported(http: aiohttp.ClientSession, stack: Stack, case_id: str, stage: str) -> None:
    """Wait until review's ledger lists the case's report of ``stage``, read with the
    review-intake pair's token (the one intake's duty presents)."""
    token = (stack.data_dir / "keys" / "ledger-review-intake.token").read_text().strip()

    async def probe() -> bool:
        after = 0
        while True:
            async with http.get(
                f"{stack.url('review')}{LEDGER_PATH}",
                params={"after": str(after), "limit": "500"},
                headers={"Authorization": f"Bearer {token}"},
            ) as reply:
                assert reply.status == 200, await reply.text()
                body = await reply.json()
            for item in body["items"]:
                event = item["event"]
                if event["type"].endswith("case-progressed.v1") and event["subject"] == case_id:
                    if event["data"]["stage"] == stage:
                        return True
            if not body["more"]:
                return False
            after = body["next"]

    await eventually(probe, timeout=60, what=f"review's ledger to list {case_id} {stage}")


async def skip_everything(stack: Stack, service: str, upstream: str) -> None:
    """Commit ``service``'s group past every record now on ``upstream``'s topic. Read to
    the end rather than trusting end_offsets: Tansu reports the newest batch's base + 1
    (DESIGN.md), which would leave the rest of a batch (the report after an approval) to be
    read."""
    settings = stack.broker.settings(client_id=f"skip-{service}")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"casework-{service}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.client_options(),
    )
    await consumer.start()
    try:
        topic = topic_of(upstream)
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        reached: dict[TopicPartition, int] = {}
        empty = 0
        async with asyncio.timeout(30):
            while empty < 3:  # three empty fetches in a row: the end
                batch = await consumer.getmany(*partitions, timeout_ms=300)
                empty = 0 if batch else empty + 1
                for tp, records in batch.items():
                    reached[tp] = records[-1].offset + 1
        assert reached
        await consumer.commit(reached)
    finally:
        await consumer.stop()


async def test_a_stage_intakes_consumer_never_read_reaches_the_tracking_page(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    account = "Tracking1"
    await create_account(stack, account)
    reference = await submit(http, stack, account)
    case_id = case_id_for(reference)
    await case_opened(http, stack, case_id)

    async def under_review() -> bool:
        return bool((await status_of(http, stack, reference))["status"] == "under-review")

    await eventually(under_review, timeout=60, what="the consumer's report on the page")
    await stop(stack, "intake")
    await approve(http, stack, case_id, account)
    await reported(http, stack, case_id, "approved")
    await skip_everything(stack, "intake", "review")
    await start(stack, "intake")

    async def approved_seen() -> Any:
        found = await status_of(http, stack, reference)
        return found if "approved" in [h["status"] for h in found["history"]] else None

    # Only the ledger can tell it: the consumer's group was moved past the report.
    found = await eventually(approved_seen, timeout=60, what="the approval on the page")
    assert found["status"] in ("approved", "enforced")
    assert found["appeal_open_until"] is not None
    text = await metrics_of(http, stack, "intake")
    assert counted(text, "reconcile_gaps_finished", "review") >= 1
    assert counted(text, "reconcile_gaps_unfinishable", "review") == 0
    assert counted(text, "reconcile_pass_failures", "review") == 0

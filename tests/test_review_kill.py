"""Review killed between reversing a decision on appeal and closing the appeal: once
restarted, the appeal is closed from the DecisionReversed event its reversal stored.

Real parts: review started as `python -m services.review` (SQLite file store), SIGKILLed
by its own crash point, restarted; the Tansu broker, which carries the event from
review's outbox back to review's own consumer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from casework.cloudevents import CloudEvent
from casework.contract import (
    Channel,
    DecisionReversed,
    Requester,
    Subject,
    SubmissionKind,
    SubmissionReceived,
    topic_of,
)
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.store import open_store
from deploy.broker import TansuBroker
from deploy.stack import Ports, ServiceProcess, service_environment
from services.review.adapters.staff_file import load_staff
from services.review.domain.case import CaseState
from services.review.domain.decision import DecisionForm
from services.review.domain.opening import case_id_for
from services.review.domain.reversal import ReversalForm
from services.review.domain.signoff import SignOffForm
from services.review.settings import ReviewSettings
from services.review.usecases import ReviewCases
from tests.fixtures.keys import session_signer
from tests.support import eventually, free_port, topic_events

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
CRASH_POINT = "review.reversal.before-appeal-closed"


def review_process(broker: TansuBroker, data_dir: Path, extra: dict[str, str]) -> ServiceProcess:
    ports = Ports(review=free_port(), broker=broker.port)
    env = service_environment(ports, data_dir, {"KAFKA_SESSION_TIMEOUT_MS": "1500", **extra})
    return ServiceProcess("review", ports.review, env, data_dir / "logs")


def submission(submission_id: str, **fields: Any) -> SubmissionReceived:
    base: dict[str, Any] = {
        "submission_id": submission_id,
        "kind": SubmissionKind.REQUEST,
        "channel": Channel.API,
        "action_type": "interaction-ban",
        "routed_to": POLICY.action("interaction-ban").routed_to,
        "summary": "Hounding one editor across talk pages.",
        "subject": Subject(account="Hounding Editor"),
        "requester": Requester(name="Hounded", email="hounded@example.org"),
        "received_at": datetime.now(UTC),
    }
    return SubmissionReceived(**{**base, **fields})


async def approved_with_an_appeal(data_dir: Path, run: str) -> tuple[str, str]:
    """An approved interaction ban (signed by alice and bob), an appeal of it, and carol's
    approval of upholding the appeal (pending: the policy needs two people), stored
    before review runs."""
    settings = ReviewSettings(data_dir=data_dir)
    store = await open_store(settings.store_url)
    try:
        staff = {m.id: m for m in load_staff(settings.staff_file, POLICY).staff}

        async def later(topic: str, event: CloudEvent) -> None:
            raise AssertionError("published by the service, not here")

        cases = ReviewCases(store, OutboxRelay(store, later), POLICY, staff.get, session_signer())
        await cases.ensure_indexes()
        original = submission(f"R-KILLORIG{run}")
        await cases.submission_received(original)
        original_id = case_id_for(original.submission_id)
        form = DecisionForm.model_validate(
            {
                "subject": {"account": "Hounding Editor"},
                "grounds": ["ucoc-3-1"],
                "public_rationale": "Hounding.",
                "interaction_ban": {"counterparties": ["Hounded"]},
            }
        )
        await cases.draft_decision(staff["alice"], original_id, form)
        for who, level in (("alice", "case-handler"), ("bob", "ts-manager")):
            sign = SignOffForm(level=level, verdict="approve", comment="ok")
            await cases.sign_off(staff[who], original_id, sign)
        appeal = submission(f"R-KILLAPPL{run}", kind=SubmissionKind.APPEAL, refers_to=original_id)
        await cases.submission_received(appeal)
        appeal_id = case_id_for(appeal.submission_id)
        upheld = ReversalForm(
            grounds="appeal-upheld",
            reason="The ban was out of proportion.",
            appeal_case_id=appeal_id,
        )
        pending = await cases.reverse(staff["carol"], original_id, upheld)
        assert pending.state is CaseState.APPROVED and pending.pending_reversal is not None
        return original_id, appeal_id
    finally:
        await store.close()


async def state_of(url: str, case_id: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{url}/api/v1/cases/{case_id}", headers={"Authorization": "Bearer demo-otto-token"}
        ) as reply,
    ):
        body = await reply.json()
        assert reply.status == 200, body
        state: str = body["state"]
        return state


async def test_an_appeal_upheld_before_a_crash_is_closed_after_restart(
    kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:4].upper()
    original_id, appeal_id = await approved_with_an_appeal(tmp_path, run)
    crashing = review_process(kafka_broker, tmp_path, {"CASEWORK_CRASH_AT": CRASH_POINT})
    crashing.start()
    try:
        crashing.wait_healthy(60)
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientError):
                async with http.post(
                    f"{crashing.url}/api/v1/cases/{original_id}/reversal",
                    json={
                        "grounds": "appeal-upheld",
                        "reason": "The ban was out of proportion.",
                        "appeal_case_id": appeal_id,
                    },
                    headers={"Authorization": "Bearer demo-dave-token"},
                ) as reply:
                    await reply.read()
        assert crashing.wait_exit(30) == -9
    finally:
        crashing.kill()

    store = await open_store(ReviewSettings(data_dir=tmp_path).store_url)
    try:
        original = await store.get("cases", original_id)
        appeal = await store.get("cases", appeal_id)
        assert original is not None and original["state"] == CaseState.REVERSED
        assert appeal is not None and appeal["state"] == CaseState.OPEN  # the crash's gap
    finally:
        await store.close()

    restarted = review_process(kafka_broker, tmp_path, {})
    restarted.start()
    try:
        restarted.wait_healthy(60)

        async def closed() -> bool:
            return await state_of(restarted.url, appeal_id) == CaseState.CLOSED

        await eventually(closed, what="the appeal closed from the DecisionReversed event")
        assert await state_of(restarted.url, original_id) == CaseState.REVERSED

        async def reversals() -> list[CloudEvent]:
            events = await topic_events(kafka_broker.bootstrap, topic_of("review"))
            return [
                e for e in events if e.type == DecisionReversed.TYPE and e.subject == original_id
            ]

        [event] = await eventually(reversals, what="the reversal on the broker")
        assert event.data["appeal_case_id"] == appeal_id
        assert event.data["reversed_by"] == "dave"
        approvers = [a["staff_id"] for a in event.data["approvals"]]
        assert approvers == ["carol", "dave"]
    finally:
        restarted.stop()

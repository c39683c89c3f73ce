"""Only a decision that staff really signed off changes a wiki, and only a reversal enough
people approved undoes one: end to end on the real broker, wiki and SMTP server.

The attacker here can write review's topic (a stolen or misused bus credential). Each
attack is published there directly; enforcement and notify must dead-letter it with the
reason, the monitor must raise an ``untrusted-event`` alert, and the wiki, the log page
and the mail sink must show no effect. A correctly signed event published the same way is
acted on, so the refusals are not vacuous.
"""

from __future__ import annotations

import asyncio
import copy
import email
import email.policy
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from casework.cloudevents import CloudEvent
from casework.contract import (
    AffectedUser,
    AlertKind,
    AlertRaised,
    ClauseGround,
    Decision,
    DecisionApproved,
    DecisionReversed,
    SignOff,
    dead_letter_topic_of,
    from_cloudevent,
    to_cloudevent,
    topic_of,
)
from casework.kafka import EventPublisher
from casework.policy import load_policy
from casework.signing import PRIVATE_KEY_NAME, Signer, load_signer
from casework.trust import sign_event
from deploy.credentials import bus_settings
from tests.fixtures.keys import full_chain, untrusted_signer
from tests.fixtures.stack import Stack
from tests.support import eventually, topic_events

pytestmark = pytest.mark.e2e

POLICY = load_policy(Path(__file__).resolve().parent.parent / "policy" / "office-actions.yaml")
LOG_PAGE = "Office actions log"


def _case() -> str:
    return "OA-" + uuid.uuid4().hex[:12].upper()


def _address(account: str) -> str:
    return f"{account.lower().replace(' ', '.')}@sandbox.test"


def _approval(case_id: str, account: str, signoffs: Sequence[SignOff]) -> DecisionApproved:
    clause = POLICY.clauses.items["tou-4-harassment"]
    decision = Decision(
        action_type="global-ban",
        subject=AffectedUser(account=account, email=_address(account)),
        grounds=[
            ClauseGround(
                id="tou-4-harassment",
                catalogue_version=POLICY.clauses.version,
                source=clause.source,
                section=clause.section,
                text=clause.text,
            )
        ],
        public_rationale="Sustained harassment of several contributors.",
        appealable=POLICY.action("global-ban").appealable,
    )
    return DecisionApproved(
        case_id=case_id, decision=decision, signoffs=list(signoffs), approved_at=datetime.now(UTC)
    )


def _review_signer(stack: Stack) -> Signer:
    """Review's own key, as a compromised producer would not have it: used here to make
    events whose signature is valid, so that only the chain check can refuse them."""
    return load_signer(stack.data_dir / "keys" / PRIVATE_KEY_NAME)


async def _account(stack: Stack, name: str) -> None:
    await asyncio.to_thread(
        stack.wiki.maintenance, "createAndPromote.php", name, f"{name.lower()}-password-trust"
    )


async def _blocks(http: aiohttp.ClientSession, stack: Stack, account: str) -> list[Any]:
    params = {
        "action": "query",
        "list": "blocks",
        "bkusers": account,
        "format": "json",
        "formatversion": "2",
    }
    async with http.get(stack.wiki.api_url, params=params) as reply:
        found: list[Any] = (await reply.json())["query"]["blocks"]
        return found


async def _log_page(http: aiohttp.ClientSession, stack: Stack) -> str:
    async with http.get(stack.wiki.index_url, params={"title": LOG_PAGE, "action": "raw"}) as reply:
        return await reply.text() if reply.status == 200 else ""


def _mail_to(stack: Stack, address: str) -> list[email.message.EmailMessage]:
    found = []
    for kept in stack.mail.messages():
        parsed = email.message_from_bytes(bytes(kept), policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        if address in str(parsed["To"]):
            found.append(parsed)
    return found


async def _dead_letters(bootstrap: str, service: str) -> dict[str, dict[str, str]]:
    """Headers of every record on a service's dead-letter topic, by the event id."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **bus_settings(bootstrap).client_options(),
    )
    await consumer.start()
    try:
        topic = dead_letter_topic_of(service)
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return {}
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: dict[str, dict[str, str]] = {}
        async with asyncio.timeout(10):
            while batch := await consumer.getmany(*partitions, timeout_ms=300):
                for records in batch.values():
                    for record in records:
                        headers = {k: v.decode("utf-8", "replace") for k, v in record.headers}
                        found[headers.get("ce_id", "")] = headers
        return found
    finally:
        await consumer.stop()


async def _publish(stack: Stack, events: Sequence[CloudEvent]) -> None:
    publisher = EventPublisher(bus_settings(stack.broker.bootstrap))
    await publisher.start()
    try:
        for event in events:
            await publisher.publish(topic_of("review"), event)
    finally:
        await publisher.stop()


async def _refused_everywhere(
    stack: Stack, attacks: dict[str, CloudEvent]
) -> dict[str, dict[str, str]]:
    """Wait until enforcement and notify both dead-lettered every attack; their reasons."""
    reasons: dict[str, dict[str, str]] = {}

    async def parked() -> bool:
        for service in ("enforcement", "notify"):
            letters = await _dead_letters(stack.broker.bootstrap, service)
            for name, event in attacks.items():
                if event.id in letters:
                    reasons.setdefault(name, {})[service] = (
                        f"{letters[event.id].get('dlq_error_type')}: "
                        f"{letters[event.id].get('dlq_error')}"
                    )
        return all(len(reasons.get(name, {})) == 2 for name in attacks)

    await eventually(
        parked,
        timeout=60,
        interval=0.5,
        what="every attack dead-lettered by enforcement and notify",
    )
    return reasons


def _with_data(event: CloudEvent, change: Any) -> CloudEvent:
    data = copy.deepcopy(event.data)
    change(data)
    return replace(event, data=data)


async def test_forged_tampered_replayed_and_incomplete_approvals_change_nothing(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    review_key = _review_signer(stack)
    now = datetime.now(UTC)
    chain = full_chain("global-ban", POLICY, now)
    names = {
        n: f"Trust {n.title().replace('-', ' ')} {uuid.uuid4().hex[:6]}"
        for n in (
            "control",
            "forged",
            "wrong-key",
            "tampered",
            "replayed",
            "missing-level",
            "level-twice",
            "one-person-two-levels",
        )
    }
    for name in names.values():
        await _account(stack, name)

    control = sign_event(to_cloudevent(_approval(_case(), names["control"], chain)), review_key)
    # A victim's real approval, seen on the bus: the attacker rewrites it.
    genuine = sign_event(to_cloudevent(_approval(_case(), "Goodfaith3", chain)), review_key)
    other_case = _case()
    duplicated = [*chain[:2], chain[2], chain[2].model_copy(update={"staff_id": "erin"})]
    doubled_person = [
        chain[0],
        chain[1].model_copy(update={"staff_id": chain[0].staff_id}),
        *chain[2:],
    ]
    attacks: dict[str, CloudEvent] = {
        # What the issue reproduced: no signature, no sign-off at all.
        "forged": to_cloudevent(_approval(_case(), names["forged"], [])),
        # A complete chain, signed, but by a key review does not have.
        "wrong-key": sign_event(
            to_cloudevent(_approval(_case(), names["wrong-key"], chain)), untrusted_signer()
        ),
        # Review's signature kept, the subject changed.
        "tampered": _with_data(
            genuine,
            lambda d: d["decision"]["subject"].update(account=names["tampered"]),
        ),
        # Review's signed approval of one case, replayed as another case's.
        "replayed": replace(
            _with_data(
                sign_event(to_cloudevent(_approval(_case(), names["replayed"], chain)), review_key),
                lambda d: d.update(case_id=other_case),
            ),
            subject=other_case,
        ),
        # Signed by review's key (so only the chain can refuse them).
        "missing-level": sign_event(
            to_cloudevent(_approval(_case(), names["missing-level"], chain[:-1])), review_key
        ),
        "level-twice": sign_event(
            to_cloudevent(_approval(_case(), names["level-twice"], duplicated)), review_key
        ),
        "one-person-two-levels": sign_event(
            to_cloudevent(_approval(_case(), names["one-person-two-levels"], doubled_person)),
            review_key,
        ),
    }
    await _publish(stack, [*attacks.values(), control])

    async def control_blocked() -> bool:
        return bool(await _blocks(http, stack, names["control"]))

    await eventually(control_blocked, timeout=60, what="the correctly signed approval enforced")
    reasons = await _refused_everywhere(stack, attacks)
    expected_rule = {
        "forged": "signature",
        "wrong-key": "signature",
        "tampered": "signature",
        "replayed": "signature",
        "missing-level": "chain",
        "level-twice": "chain",
        "one-person-two-levels": "chain",
    }
    for name, rule in expected_rule.items():
        for service in ("enforcement", "notify"):
            assert reasons[name][service].startswith(f"EventRefused: {rule}"), (name, reasons)

    async def control_published() -> str | None:
        page = await _log_page(http, stack)
        return page if control.subject in page else None

    log_page = await eventually(control_published, timeout=60, what="the control's statement")
    for name, event in attacks.items():
        account = names[name]
        assert await _blocks(http, stack, account) == [], name
        assert _mail_to(stack, _address(account)) == [], name
        assert event.subject not in log_page, name
    assert await _blocks(http, stack, "Goodfaith3") == []

    # Ops are alerted, once per parked record, naming it an untrusted event.
    async def alerted() -> set[str]:
        alerts = [
            data
            for e in await topic_events(stack.broker.bootstrap, topic_of("monitor"))
            if isinstance(data := from_cloudevent(e), AlertRaised)
            and data.kind is AlertKind.UNTRUSTED_EVENT
        ]
        cases = {a.case_id for a in alerts if a.case_id}
        return cases if {e.subject for e in attacks.values()} <= cases else set()

    await eventually(
        alerted, timeout=60, interval=0.5, what="untrusted-event alerts for every attack"
    )


async def test_a_reversal_needs_a_signature_and_enough_people(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    review_key = _review_signer(stack)
    now = datetime.now(UTC)
    account = f"Trust Reversal {uuid.uuid4().hex[:6]}"
    await _account(stack, account)
    approved = _approval(_case(), account, full_chain("global-ban", POLICY, now))
    await _publish(stack, [sign_event(to_cloudevent(approved), review_key)])

    async def blocked() -> bool:
        return bool(await _blocks(http, stack, account))

    await eventually(blocked, timeout=60, what="the approved ban enforced")

    async def told() -> bool:
        return bool(_mail_to(stack, _address(account)))

    await eventually(told, timeout=60, what="the affected user told of the ban")

    def reversal(approvals: list[SignOff]) -> DecisionReversed:
        return DecisionReversed(
            case_id=approved.case_id,
            decision=approved.decision,
            reason="Reversed.",
            reversed_by=approvals[0].staff_id if approvals else "mallory",
            reversed_at=datetime.now(UTC),
            grounds="error",
            approvals=approvals,
        )

    one = SignOff(
        level="ts-manager",
        staff_id="bob",
        verdict="approve",
        comment="undo",
        languages=["en"],
        signed_at=now,
    )
    attacks = {
        "alone": sign_event(to_cloudevent(reversal([one])), review_key),
        "unsigned": to_cloudevent(
            reversal([one, one.model_copy(update={"level": "director", "staff_id": "dave"})])
        ),
        "not-a-reversal-level": sign_event(
            to_cloudevent(
                reversal(
                    [one, one.model_copy(update={"level": "case-handler", "staff_id": "alice"})]
                )
            ),
            review_key,
        ),
    }
    await _publish(stack, list(attacks.values()))
    reasons = await _refused_everywhere(stack, attacks)
    assert reasons["alone"]["enforcement"].startswith("EventRefused: reversal")
    assert reasons["unsigned"]["enforcement"].startswith("EventRefused: signature")
    assert reasons["not-a-reversal-level"]["enforcement"].startswith("EventRefused: reversal")
    assert await _blocks(http, stack, account), "a refused reversal lifted the block"
    for service in ("enforcement", "notify"):
        assert all(reasons[name][service].startswith("EventRefused") for name in attacks)
    subjects = [str(m["Subject"]) for m in _mail_to(stack, _address(account))]
    assert not any(s.startswith("Office action reversed") for s in subjects), subjects

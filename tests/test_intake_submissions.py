"""The use cases every channel calls (the mail channel's interface): submit with message ids
and attachments, incomplete submissions, later correspondence, threading by Message-ID.

Real parts: a SQLite store file, the outbox relay, the Tansu broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from casework.contract import Channel, SubmissionKind, topic_of
from casework.errors import FieldError, Rejected
from casework.kafka import EventPublisher, KafkaSettings, ensure_topics
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.store import DocumentStore, open_store
from services.intake.domain.rules import Rules
from services.intake.policy import rules_of
from services.intake.usecases import IncomingAttachment, RateLimited, Submissions
from tests.support import eventually
from tests.test_intake_api import EXAMPLES, POLICY_FILE, events_about

POLICY = load_policy(POLICY_FILE)
INTAKE = rules_of(POLICY)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DocumentStore]:
    opened = await open_store(f"sqlite:///{tmp_path / 'intake.sqlite3'}")
    yield opened
    await opened.close()


@pytest.fixture
async def submissions(
    store: DocumentStore, kafka_settings: KafkaSettings
) -> AsyncIterator[Submissions]:
    publisher = EventPublisher(kafka_settings)
    await publisher.start()
    await ensure_topics(kafka_settings, [topic_of("intake")], partitions=2)
    relay = OutboxRelay(store, publisher.publish, poll_interval=0.2)
    task = asyncio.create_task(relay.run())
    subs = Submissions(store, relay, Rules(POLICY, INTAKE, frozenset({"127.0.0.1"})))
    await subs.prepare()
    try:
        yield subs
    finally:
        relay.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await publisher.stop()


async def one_event(settings: KafkaSettings, subject: str) -> dict[str, object]:
    found = await eventually(
        lambda: events_about(settings.bootstrap_servers, subject), what=f"event of {subject}"
    )
    assert len(found) == 1, found
    return found[0].data


def message_id() -> str:
    return f"<{uuid.uuid4().hex}@mail.example.org>"


async def test_an_emailed_submission_keeps_its_message_id_and_attachments(
    submissions: Submissions, store: DocumentStore, kafka_settings: KafkaSettings
) -> None:
    mid = message_id()
    pdf = IncomingAttachment("proof.pdf", "application/pdf; name=proof.pdf", b"%PDF-1.4 proof")
    accepted = await submissions.submit(
        SubmissionKind.CHILD_PROTECTION_REPORT,
        {"summary": "An account is asking a child for their address."},
        channel=Channel.EMAIL,
        idempotency_key=mid,
        sender="worried@example.org",
        message_id=mid,
        attachments=[pdf],
    )
    assert not accepted.replayed
    again = await submissions.submit(
        SubmissionKind.CHILD_PROTECTION_REPORT,
        {"summary": "An account is asking a child for their address."},
        channel=Channel.EMAIL,
        idempotency_key=mid,
        sender="worried@example.org",  # keys are the sender's own
        message_id=mid,
        attachments=[pdf],
    )
    assert again.reference == accepted.reference and again.replayed
    data = await one_event(kafka_settings, accepted.reference)
    assert data["channel"] == "email" and data["urgent"] is True
    assert data["attachments"] == [
        {
            "name": "proof.pdf",
            "content_type": "application/pdf",
            "size": 14,
            "sha256": hashlib.sha256(b"%PDF-1.4 proof").hexdigest(),
        }
    ]
    stored = await store.get("submissions", accepted.reference)
    assert stored is not None and stored["attachment_data"][0]["data"] == "JVBERi0xLjQgcHJvb2Y="
    assert await submissions.reference_for_message(["<other@x>", mid]) == accepted.reference


async def test_attachments_over_the_policy_limits_are_refused(submissions: Submissions) -> None:
    exe = IncomingAttachment("run.exe", "application/x-msdownload", b"MZ")
    with pytest.raises(Rejected) as caught:
        await submissions.submit(
            SubmissionKind.INQUIRY,
            EXAMPLES[SubmissionKind.INQUIRY],
            channel=Channel.EMAIL,
            idempotency_key=message_id(),
            attachments=[exe],
        )
    assert [(e.field, e.rule) for e in caught.value.errors] == [("attachments.0", "content_type")]


async def test_an_incomplete_submission_is_announced_once_per_message(
    submissions: Submissions, kafka_settings: KafkaSettings
) -> None:
    mid = message_id()
    missing = [FieldError("signature", "required_by_policy", "missing: your signature")]
    first = await submissions.report_incomplete(
        SubmissionKind.DMCA_NOTICE,
        missing,
        channel=Channel.EMAIL,
        requester_email="owner@example.org",
        requester_name="Owner",
        language="ru",
        message_id=mid,
    )
    second = await submissions.report_incomplete(
        SubmissionKind.DMCA_NOTICE,
        missing,
        channel=Channel.EMAIL,
        requester_email="owner@example.org",
        message_id=mid,
    )
    assert first == second and first.answered
    data = await one_event(kafka_settings, first.reference)
    assert data["missing"] == [
        {"field": "signature", "rule": "required_by_policy", "message": "missing: your signature"}
    ]
    assert (data["language"], data["in_reply_to"]) == ("ru", mid)


async def test_correspondence_threads_to_its_submission_once_per_message(
    submissions: Submissions, kafka_settings: KafkaSettings
) -> None:
    accepted = await submissions.submit(
        SubmissionKind.INQUIRY,
        EXAMPLES[SubmissionKind.INQUIRY],
        channel=Channel.EMAIL,
        idempotency_key=None,
        message_id=message_id(),
    )
    reply = message_id()
    for _ in range(2):
        assert await submissions.add_correspondence(
            accepted.reference,
            channel=Channel.EMAIL,
            sender="rita@example.org",
            text="One more question: who decided?",
            message_id=reply,
        )
    assert not await submissions.add_correspondence(
        "R-AAAAAAAAAAAA", channel=Channel.EMAIL, sender="rita@example.org", text="hello"
    )

    async def two() -> list[object] | None:
        found = await events_about(kafka_settings.bootstrap_servers, accepted.reference)
        return found if len(found) >= 2 else None

    events = await eventually(two, what="the submission and its correspondence")
    assert sorted(e.type.split(".")[2] for e in events) == [
        "correspondence-received",
        "submission-received",
    ]
    # A reply to the reply threads to the same submission.
    assert await submissions.reference_for_message([reply]) == accepted.reference
    assert await submissions.reference_for_message([message_id()]) is None


async def test_the_sender_limit_counts_mail_too(
    store: DocumentStore, kafka_settings: KafkaSettings, submissions: Submissions
) -> None:
    low = INTAKE.model_copy(
        update={
            "rate_limits": INTAKE.rate_limits.model_copy(
                update={"per_sender": INTAKE.rate_limits.per_sender.model_copy(update={"max": 1})}
            )
        }
    )
    limited = Submissions(
        store,
        submissions.relay,
        Rules(POLICY, low, frozenset({"127.0.0.1"})),
    )
    body = EXAMPLES[SubmissionKind.INQUIRY]
    await limited.submit(
        SubmissionKind.INQUIRY, body, channel=Channel.EMAIL, idempotency_key=None, sender="a@b.org"
    )
    with pytest.raises(RateLimited) as caught:
        await limited.submit(
            SubmissionKind.INQUIRY,
            body,
            channel=Channel.EMAIL,
            idempotency_key=None,
            sender="A@B.org",
        )
    assert 0 < caught.value.retry_after <= 3600

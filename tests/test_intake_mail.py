"""The email channel end to end inside intake: a real SMTP/LMTP listener (aiosmtpd) with
aiosmtplib as the client, Debian's dovecot for IMAP, and intake's real use cases
(services/intake/usecases/) on a real SQLite store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiokafka import AIOKafkaConsumer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from casework.cloudevents import from_kafka
from casework.config import REPO_ROOT, ServiceSettings
from casework.contract import topic_of
from casework.kafka import EventPublisher, KafkaSettings, ensure_topics
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.runtime import Kit
from casework.store import DocumentStore, open_store
from services.intake.adapters.imap import ImapConfig
from services.intake.app import mail_duties
from services.intake.domain.mail.mapping import Routing
from services.intake.domain.mail.parse import MailLimits
from services.intake.domain.rules import Rules
from services.intake.entrypoints.mail.imap import ImapPoller
from services.intake.entrypoints.mail.listener import MailListener
from services.intake.policy import Limit, RateLimits, rules_of
from services.intake.settings import MailSettings
from services.intake.usecases import CORRESPONDENCE, INCOMPLETE, SUBMISSIONS, Submissions
from services.intake.usecases.mail import MailPipeline, MailRefused
from tests.fixtures.dovecot import Dovecot
from tests.support import eventually, free_port

CORPUS = Path(__file__).parent / "data" / "mail"
POLICY = load_policy(REPO_ROOT / "policy" / "office-actions.yaml")
INTAKE = rules_of(POLICY)
ROUTING = Routing(MailSettings().address_map(), wiki_hosts=frozenset({"sandbox.test"}))
DOMAIN = "officeactions.test"
TOPIC = topic_of("intake")


async def _no_publish(*_: Any) -> None:
    raise AssertionError("the relay is not run in these tests")


@dataclass
class Intake:
    store: DocumentStore
    submissions: Submissions
    pipeline: MailPipeline
    listener: MailListener

    async def send(
        self, raw: bytes, to: list[str], sender: str = "x@example.org"
    ) -> tuple[int, str]:
        try:
            _, text = await aiosmtplib.send(
                raw, sender=sender, recipients=to, hostname="127.0.0.1", port=self.listener.port
            )
        except aiosmtplib.SMTPResponseException as exc:
            return exc.code, exc.message
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return exc.recipients[0].code, exc.recipients[0].message
        return 250, text

    async def stored(self, reference: str) -> bool:
        return any([await self.store.get(c, reference) for c in (SUBMISSIONS, INCOMPLETE)])

    async def count(self, collection: str) -> int:
        return len(await self.store.find(collection))


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    store = await open_store(f"sqlite:///{tmp_path / 'intake.sqlite3'}")
    submissions = Submissions(
        store, OutboxRelay(store, _no_publish), Rules(POLICY, INTAKE, frozenset({"sandbox.test"}))
    )
    await submissions.prepare()
    limits = MailLimits(max_bytes=200_000)
    pipeline = MailPipeline(submissions, ROUTING, limits)
    listener = MailListener(
        pipeline, ROUTING, host="127.0.0.1", port=free_port(), max_bytes=limits.max_bytes
    )
    await listener.start()
    intake = Intake(store, submissions, pipeline, listener)
    try:
        yield intake
    finally:
        await listener.stop()
        await intake.store.close()  # the store a test reopened, if it did


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def letter(
    to: str, body: str, *, subject: str = "hello", extra: str = "", msg_id: str = "m-1"
) -> bytes:
    return (
        f"From: Carol Writer <carol@example.org>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{msg_id}@example.org>\r\n{extra}MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n")
    ).encode()


CHILD = letter(
    f"childsafety@{DOMAIN}",
    "An image of a child is posted here https://sandbox.test/wiki/File:Bad.jpg please remove it.",
    msg_id="child-1",
)
ABUSE = letter(
    f"staffconduct@{DOMAIN}",
    "Staff: Staffer One\nCase: OA-ABCDEFGHIJKL\n\n"
    "The staff member used the office account to settle a personal content dispute.",
    msg_id="abuse-1",
)
KINDS = {
    "alternative.eml": ("request", None),
    "koi8r.eml": ("request", None),
    "dmca_attachment.eml": ("dmca-notice", None),
    "cp1251.eml": ("appeal", None),
    "forwarded.eml": ("breach-report", None),
    "html_only.eml": ("inquiry", None),
    "child": ("child-protection-report", CHILD),
    "abuse": ("abuse-report", ABUSE),
}


@pytest.mark.parametrize("name", list(KINDS))
async def test_every_kind_by_smtp_is_stored_once(intake: Intake, name: str) -> None:
    kind, raw = KINDS[name]
    raw = raw or corpus(name)
    to = [a for a, k in ROUTING.addresses.items() if k.value == kind]
    code, text = await intake.send(raw, to)
    assert code == 250, text
    reference = text.split()[-1]
    stored = await intake.store.get(SUBMISSIONS, reference)
    assert stored is not None and stored["kind"] == kind and stored["channel"] == "email"
    # The MTA delivers again (it missed our 250): the same submission, nothing new.
    code, again = await intake.send(raw, to)
    assert code == 250 and again.split()[-1] == reference
    assert await intake.count(SUBMISSIONS) == 1


async def test_attachment_and_urgency_reach_the_event(intake: Intake) -> None:
    _, text = await intake.send(corpus("dmca_attachment.eml"), [f"dmca@{DOMAIN}"])
    stored = await intake.store.get(SUBMISSIONS, text.split()[-1])
    assert stored is not None
    [meta] = stored["submission"]["attachments"]
    assert (meta["name"], meta["content_type"]) == ("registration.pdf", "application/pdf")
    _, text = await intake.send(CHILD, [f"childsafety@{DOMAIN}"])
    child = await intake.store.get(SUBMISSIONS, text.split()[-1])
    assert child is not None and child["submission"]["urgent"] is True


async def test_replies_thread_by_subject_reference_and_by_in_reply_to(intake: Intake) -> None:
    _, text = await intake.send(corpus("alternative.eml"), [f"requests@{DOMAIN}"])
    reference = text.split()[-1]
    by_subject = letter(
        f"requests@{DOMAIN}",
        "More: https://sandbox.test/w/index.php?diff=99",
        subject=f"Re: [{reference}] your request",
        msg_id="reply-1",
    )
    code, answer = await intake.send(by_subject, [f"requests@{DOMAIN}"])
    assert (code, answer.split()[-2:]) == (250, ["threaded", reference])
    by_header = letter(
        f"requests@{DOMAIN}",
        "And one more thing.",
        subject="Re: Request",
        extra="In-Reply-To: <alt-0001@mx.example.org>\r\n",
        msg_id="reply-2",
    )
    code, answer = await intake.send(by_header, [f"requests@{DOMAIN}"])
    assert (code, answer.split()[-2:]) == (250, ["threaded", reference])
    replies = await intake.store.find(CORRESPONDENCE)
    assert {r["submission_id"] for r in replies} == {reference} and len(replies) == 2
    assert await intake.count(SUBMISSIONS) == 1


async def test_incomplete_dmca_notice_is_answered_with_the_missing_elements(intake: Intake) -> None:
    raw = letter(
        f"dmca@{DOMAIN}",
        "Copyrighted work: my song\nLocation: https://sandbox.test/wiki/File:Song.ogg\n",
        msg_id="dmca-incomplete",
    )
    code, text = await intake.send(raw, [f"dmca@{DOMAIN}"])
    assert code == 250 and "incomplete" in text
    [record] = await intake.store.find(INCOMPLETE)
    missing = {m["field"] for m in record["incomplete"]["missing"]}
    assert missing == {
        "infringing_material",
        "contact_address",
        "good_faith_statement",
        "accuracy_statement",
        "signature",
    }
    assert record["incomplete"]["requester_email"] == "carol@example.org"
    assert await intake.count(SUBMISSIONS) == 0
    await intake.send(raw, [f"dmca@{DOMAIN}"])
    assert await intake.count(INCOMPLETE) == 1  # once per message


async def test_policy_refusal_is_answered_not_stored(intake: Intake) -> None:
    raw = letter(
        f"appeals@{DOMAIN}",
        "Case: OA-ABCDEFGHIJKL\nAction: conduct-warning\n\nI disagree with the warning I got.",
        msg_id="appeal-warning",
    )
    code, _ = await intake.send(raw, [f"appeals@{DOMAIN}"])
    assert code == 250
    [record] = await intake.store.find(INCOMPLETE)
    assert [(m["field"], m["rule"]) for m in record["incomplete"]["missing"]] == [
        ("action", "appealable")
    ]
    assert await intake.count(SUBMISSIONS) == 0


async def test_unknown_recipient_oversize_and_malformed_are_refused(intake: Intake) -> None:
    code, _ = await intake.send(corpus("alternative.eml"), [f"nobody@{DOMAIN}"])
    assert code == 550
    code, _ = await intake.send(letter(f"requests@{DOMAIN}", "x" * 300_000), [f"requests@{DOMAIN}"])
    assert code == 552
    code, text = await intake.send(b"From: nobody\r\n\r\nhi", [f"requests@{DOMAIN}"])
    assert code == 550 and "from" in text
    assert await intake.count(SUBMISSIONS) + await intake.count(INCOMPLETE) == 0


async def reopened(intake: Intake, tmp_path: Path) -> None:
    """Intake on its store again, after the store failed (the listener stays up)."""
    intake.store = await open_store(f"sqlite:///{tmp_path / 'intake.sqlite3'}")
    intake.submissions = Submissions(
        intake.store,
        OutboxRelay(intake.store, _no_publish),
        Rules(POLICY, INTAKE, ROUTING.wiki_hosts),
    )
    intake.pipeline.submissions = intake.submissions


async def test_store_failure_answers_451_and_the_retry_stores_it(
    intake: Intake, tmp_path: Path
) -> None:
    await intake.store.close()
    code, text = await intake.send(corpus("alternative.eml"), [f"requests@{DOMAIN}"])
    assert code == 451, text
    await reopened(intake, tmp_path)
    code, text = await intake.send(corpus("alternative.eml"), [f"requests@{DOMAIN}"])
    assert code == 250, text
    assert await intake.count(SUBMISSIONS) == 1


async def test_a_new_appeal_naming_a_reference_is_not_a_reply(intake: Intake) -> None:
    _, text = await intake.send(corpus("alternative.eml"), [f"requests@{DOMAIN}"])
    reference = text.split()[-1]
    raw = letter(
        f"appeals@{DOMAIN}",
        f"Case: {reference}\nAction: interaction-ban\n\nThe interaction ban was unfair to me.",
        subject=f"Appeal of {reference}",
        msg_id="appeal-new",
    )
    code, answer = await intake.send(raw, [f"appeals@{DOMAIN}"])
    assert code == 250 and answer.split()[-2] == "submitted", answer
    appeal = await intake.store.get(SUBMISSIONS, answer.split()[-1])
    assert appeal is not None and appeal["submission"]["refers_to"] == reference
    assert await intake.count(CORRESPONDENCE) == 0


async def test_over_the_rate_limit_answers_451_and_stores_nothing(tmp_path: Path) -> None:
    intake_rules = INTAKE.model_copy(
        update={"rate_limits": RateLimits(per_sender=Limit(max=1, per_seconds=3600))}
    )
    store = await open_store(f"sqlite:///{tmp_path / 'limited.sqlite3'}")
    submissions = Submissions(
        store,
        OutboxRelay(store, _no_publish),
        Rules(POLICY, intake_rules, frozenset({"sandbox.test"})),
    )
    await submissions.prepare()
    pipeline = MailPipeline(submissions, ROUTING)
    listener = MailListener(pipeline, ROUTING, host="127.0.0.1", port=free_port(), max_bytes=10**6)
    await listener.start()
    limited = Intake(store, submissions, pipeline, listener)
    try:
        assert (await limited.send(CHILD, [f"childsafety@{DOMAIN}"]))[0] == 250
        code, text = await limited.send(ABUSE, [f"staffconduct@{DOMAIN}"])
        assert code == 451 and "retry after" in text, text
        assert await limited.count(SUBMISSIONS) == 1
    finally:
        await listener.stop()
        await store.close()


async def lmtp_exchange(port: int, raw: bytes, recipients: list[str]) -> list[str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> list[str]:
        lines = []
        while True:
            line = (await reader.readline()).decode().rstrip()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines

    await reply()
    for command in ["LHLO client.test", "MAIL FROM:<x@example.org>"] + [
        f"RCPT TO:<{r}>" for r in recipients
    ]:
        writer.write(command.encode() + b"\r\n")
        await reply()
    writer.write(b"DATA\r\n")
    await reply()
    writer.write(raw.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
    answers = [(await reader.readline()).decode().rstrip() for _ in recipients]
    writer.write(b"QUIT\r\n")
    writer.close()
    return answers


async def test_lmtp_answers_each_recipient(intake: Intake) -> None:
    lmtp = MailListener(
        intake.pipeline, ROUTING, host="127.0.0.1", port=free_port(), lmtp=True, max_bytes=200_000
    )
    await lmtp.start()
    try:
        answers = await lmtp_exchange(
            lmtp.port, corpus("alternative.eml"), [f"requests@{DOMAIN}", f"requests+x@{DOMAIN}"]
        )
    finally:
        await lmtp.stop()
    assert [a[:3] for a in answers] == ["250", "250"]
    assert await intake.count(SUBMISSIONS) == 1


async def test_imap_poller_stores_moves_and_quarantines(intake: Intake, dovecot: Dovecot) -> None:
    for name in ("alternative.eml", "html_only.eml"):
        dovecot.append(corpus(name))
    dovecot.append(b"From: nobody\r\nTo: requests@officeactions.test\r\n\r\nbroken")
    poller = ImapPoller(
        intake.pipeline,
        ImapConfig(dovecot.host, dovecot.port, dovecot.user, dovecot.password, poll_seconds=0.1),
    )
    report = await poller.poll_once()
    assert (report.stored, report.quarantined, report.deferred) == (2, 1, 0)
    assert await intake.count(SUBMISSIONS) == 2
    assert dovecot.messages("INBOX") == []
    assert len(dovecot.messages("Processed")) == 2
    [(quarantined, _)] = dovecot.messages("Quarantine")
    assert b"broken" in quarantined
    again = await poller.poll_once()
    assert (again.stored, again.quarantined) == (0, 0)
    assert "password" not in repr(poller.config)


async def test_imap_failure_leaves_mail_for_the_next_poll(
    intake: Intake, dovecot: Dovecot, tmp_path: Path
) -> None:
    dovecot.append(corpus("koi8r.eml"))
    poller = ImapPoller(
        intake.pipeline, ImapConfig(dovecot.host, dovecot.port, dovecot.user, dovecot.password)
    )
    await intake.store.close()
    assert (await poller.poll_once()).deferred == 1
    [(_, flags)] = dovecot.messages("INBOX")
    assert "\\Seen" not in flags
    await reopened(intake, tmp_path)
    assert (await poller.poll_once()).stored == 1
    assert await intake.count(SUBMISSIONS) == 1


# --- hostile MIME: no crash, a 250 or a 5xx with a reason, nothing stored when refused ---

_header_names = st.sampled_from(
    ["Subject", "X-Junk", "Content-Type", "Content-Transfer-Encoding", "From"]
)
_boundary = st.text(alphabet="abc-=_", min_size=0, max_size=6)


@st.composite
def hostile_mail(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return draw(st.binary(max_size=2000))
    if choice == 5:  # a real mail with bytes flipped, inserted or cut
        raw = bytearray(corpus(draw(st.sampled_from([n for n in KINDS if n.endswith(".eml")]))))
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(raw) - 1))
            how = draw(st.integers(0, 2))
            if how == 0:
                raw[at] = draw(st.integers(0, 255))
            elif how == 1:
                raw[at:at] = draw(st.binary(min_size=1, max_size=50))
            else:
                del raw[at : at + draw(st.integers(1, 200))]
        return bytes(raw)
    head = b"From: Eve <eve@example.org>\r\nTo: requests@officeactions.test\r\n"
    if choice == 1:  # broken boundaries
        b1, b2 = draw(_boundary), draw(_boundary)
        body = f"--{b2}\r\nContent-Type: text/plain\r\n\r\n{draw(st.text(max_size=50))}\r\n--{b1}"
        return head + f'Content-Type: multipart/mixed; boundary="{b1}"\r\n\r\n{body}'.encode()
    if choice == 2:  # deep nesting
        depth = draw(st.integers(1, 40))
        body = "x"
        for level in range(depth):
            body = (
                f"Content-Type: multipart/mixed; boundary=l{level}\r\n\r\n"
                f"--l{level}\r\n{body}\r\n--l{level}--"
            )
        return head + body.encode()
    if choice == 3:  # huge or junk headers
        name = draw(_header_names)
        value = draw(
            st.binary(max_size=3000) | st.text(min_size=900, max_size=1100).map(str.encode)
        )
        return head + name.encode() + b": " + value + b"\r\n\r\nbody"
    charset = draw(st.sampled_from(["utf-8", "koi8-r", "x-bogus", "utf-16", "windows-1251"]))
    encoding = draw(st.sampled_from(["base64", "quoted-printable", "8bit", "x-weird"]))
    return (
        head
        + (
            f"Content-Type: text/plain; charset={charset}\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
        ).encode()
        + draw(st.binary(max_size=500))
    )


HOSTILE = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@HOSTILE
@given(raw=hostile_mail())
async def test_hostile_mime_never_crashes_the_listener(intake: Intake, raw: bytes) -> None:
    """aiosmtpd itself answers "500 Line too long" for a line over RFC 5321's 1000 bytes;
    a handler crash would be "500 Error: (…)", which fails this test."""
    before = await intake.count(SUBMISSIONS) + await intake.count(INCOMPLETE)
    code, text = await intake.send(raw, [f"requests@{DOMAIN}"])
    after = await intake.count(SUBMISSIONS) + await intake.count(INCOMPLETE)
    event(f"SMTP {code} {text.split(':')[0][:20] if code != 250 else ''}")
    assert code in (250, 550, 552) or (code, text[:13]) == (500, "Line too long"), (code, text)
    if code == 250:  # stored: a submission, or an incomplete request being answered
        assert after - before in (0, 1)  # 0: a mutated corpus mail kept its Message-ID
        assert await intake.stored(text.split()[-1])
    else:
        assert text and after == before  # refused with a reason; nothing stored


@HOSTILE
@given(raw=hostile_mail())
async def test_hostile_mime_never_crashes_the_pipeline(intake: Intake, raw: bytes) -> None:
    """The IMAP path: no SMTP line limit in front, so the parser's own limits answer."""
    before = await intake.count(SUBMISSIONS) + await intake.count(INCOMPLETE)
    try:
        delivered = await intake.pipeline.deliver(raw)
    except MailRefused as exc:
        event(f"refused {exc.message.split(':')[0]}")
        assert exc.code in (550, 552) and exc.message
        assert await intake.count(SUBMISSIONS) + await intake.count(INCOMPLETE) == before
    else:
        event(f"delivered {delivered[0].outcome}")
        after = await intake.count(SUBMISSIONS) + await intake.count(INCOMPLETE)
        assert after - before in (0, 1)  # 0: a mutated corpus mail kept its Message-ID
        assert await intake.stored(delivered[0].reference)


# --- wired as intake wires it, through the real broker ------------------------------------


async def test_wired_duties_publish_mail_from_smtp_and_imap(
    tmp_path: Path, dovecot: Dovecot, kafka_settings: KafkaSettings
) -> None:
    """mail_duties on a Kit with a real Tansu publisher: each mail, by SMTP or from the IMAP
    mailbox, comes out of the outbox relay as exactly one SubmissionReceived on the broker."""

    class Settings(ServiceSettings, MailSettings):
        SERVICE = "intake"

    settings = Settings(
        INTAKE_MAIL_PORT=free_port(),
        INTAKE_IMAP_HOST=dovecot.host,
        INTAKE_IMAP_PORT=dovecot.port,
        INTAKE_IMAP_USER=dovecot.user,
        INTAKE_IMAP_PASSWORD=dovecot.password,
        INTAKE_IMAP_POLL_SECONDS=0.2,
        WIKI_FARM="sandbox=http://sandbox.test/w/api.php",
    )
    assert dovecot.password not in repr(settings)
    store = await open_store(f"sqlite:///{tmp_path / 'wired.sqlite3'}")
    publisher = EventPublisher(kafka_settings)
    await publisher.start()
    await ensure_topics(kafka_settings, [TOPIC], partitions=1)
    relay = OutboxRelay(store, publisher.publish, poll_interval=0.2)
    kit = Kit(
        settings=settings,
        policy=POLICY,
        store=store,
        publisher=publisher,
        relay=relay,
        registry=CollectorRegistry(),
        health_checks={},
    )
    submissions = Submissions(store, relay, Rules(POLICY, INTAKE, settings.wiki_hosts()))
    await submissions.prepare()
    duties = mail_duties(kit, submissions, INTAKE)
    assert len(duties.listeners) == 1  # SMTP; LMTP is off
    assert list(duties.pollers) == ["imap-poll"]
    tasks = [
        asyncio.create_task(d()) for d in [*duties.listeners, *duties.pollers.values(), relay.run]
    ]
    try:
        dovecot.append(corpus("html_only.eml"))

        async def smtp_answer() -> tuple[Any, str] | None:
            try:
                return await aiosmtplib.send(
                    CHILD,
                    sender="carol@example.org",
                    recipients=[f"childsafety@{DOMAIN}"],
                    hostname="127.0.0.1",
                    port=settings.mail_port,
                )
            except (OSError, aiosmtplib.SMTPConnectError):
                return None  # the listener task has not bound its port yet

        _, text = await eventually(smtp_answer, what="the SMTP listener to answer")
        child_ref = text.split()[-1]
        imap_ref = await eventually(
            lambda: _stored_reference(store, "inquiry"), what="the IMAP mail to be stored"
        )
        events = await _events(kafka_settings, {child_ref, imap_ref})
    finally:
        relay.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await publisher.stop()
        await store.close()
    assert events[child_ref]["kind"] == "child-protection-report"
    assert events[child_ref]["urgent"] is True
    assert events[imap_ref]["questions"][0] == "Which clauses of the Terms of Use did I breach?"
    assert {e["channel"] for e in events.values()} == {"email"}
    assert dovecot.messages("INBOX") == []


async def _stored_reference(store: DocumentStore, kind: str) -> str | None:
    found = await store.find(SUBMISSIONS, {"kind": kind})
    return str(found[0]["_id"]) if found else None


async def _events(kafka: KafkaSettings, keys: set[str]) -> dict[str, dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"test-mail-{uuid.uuid4().hex[:10]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=1500,
        heartbeat_interval_ms=500,
        **kafka.client_options(),
    )
    await consumer.start()
    found: dict[str, list[dict[str, Any]]] = {}

    async def all_found() -> bool:
        batch = await consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for record in records:
                event = from_kafka(record.key, record.value, record.headers)
                if event.subject in keys:
                    found.setdefault(event.subject, []).append(event.data)
        return keys <= found.keys()

    try:
        await eventually(all_found, timeout=30, what=f"events for {sorted(keys)}")
    finally:
        await consumer.stop()
    assert all(len(v) == 1 for v in found.values()), found
    return {k: v[0] for k, v in found.items()}

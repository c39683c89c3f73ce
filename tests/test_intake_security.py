"""Intake against the attacks of issue 14, each as the attacker ran it against the real
service: who may speak for a requester, addresses that cannot be mailed, answers to forged
mail (backscatter), account names and look-alikes, URLs read differently by browsers,
guessable references and other clients' keys, lax booleans, and overlapping routes.

Real parts: intake as `serve()` runs it (SQLite, outbox relay, aiohttp) with the Tansu
broker, for the HTTP attacks; the SMTP listener (aiosmtpd, aiosmtplib as the client) over
intake's use cases on a real SQLite store, for the mail attacks; review's pure case logic.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import aiosmtplib
import pytest

from casework.contract import (
    Channel,
    CorrespondenceReceived,
    Requester,
    SubmissionKind,
    SubmissionReceived,
)
from casework.policy import load_policy
from casework.store import DocumentStore, open_store
from services.intake.domain.mail.mapping import Routing
from services.intake.domain.mail.parse import MailLimits
from services.intake.domain.rules import Rules
from services.intake.entrypoints.mail.listener import MailListener
from services.intake.policy import Limit, rules_of
from services.intake.settings import MailSettings
from services.intake.usecases import CORRESPONDENCE, INCOMPLETE, SUBMISSIONS, Submissions
from services.intake.usecases.mail import MailPipeline
from services.review.domain.casefile import record_correspondence
from services.review.domain.deadlines import calendar_for, set_waiting
from services.review.domain.opening import open_case
from tests.support import free_port
from tests.test_intake_api import (  # noqa: F401
    EXAMPLES,
    POLICY_FILE,
    Intake,
    fields_and_rules,
    intake,
    post,
    the_event,
)

POLICY = load_policy(POLICY_FILE)
INTAKE = rules_of(POLICY)
DOMAIN = "officeactions.test"
ROUTING = Routing(MailSettings().address_map(), wiki_hosts=frozenset({"sandbox.test"}))
Json = dict[str, Any]


def body_of(kind: SubmissionKind, **changes: Any) -> Json:
    body = copy.deepcopy(EXAMPLES[kind])
    for path, value in changes.items():
        target = body
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return body


async def refused(
    intake: Intake, http: aiohttp.ClientSession, kind: SubmissionKind, body: Json
) -> set[tuple[str, str]]:
    """POST ``body``; assert a 422 that stored nothing; the (field, rule) pairs named."""
    before = len(await intake.documents())
    status, reply, _ = await post(http, intake.submissions_url(kind.value), body)
    assert status == 422, reply
    assert set(reply) == {"error", "message", "errors"}
    assert len(await intake.documents()) == before
    return fields_and_rules(reply)


# --- item 7: addresses that can never be mailed -------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "rita\x1c@example.org",
        "rita\x1f@example.org",
        "rita@exa\x1emple.org",
        "rita@example.org\r\nBcc: all@example.org",
        "<rita>@example.org",
        "rita@exam<ple.org",
        "rita@[127.0.0.1]",
        "rita@localhost.test",
    ],
)
async def test_an_address_that_cannot_be_mailed_is_a_field_error_in_the_api(
    intake: Intake, http: aiohttp.ClientSession, email: str
) -> None:
    body = body_of(SubmissionKind.REQUEST, requester__email=email)
    found = await refused(intake, http, SubmissionKind.REQUEST, body)
    assert {f for f, _ in found} == {"requester.email"}, found


async def test_an_address_that_cannot_be_mailed_is_refused_by_the_form(
    intake: Intake,
) -> None:
    values = {
        "questions": "Why was I locked?",
        "refers_to": "OA-ABCDEFGHIJKL",
        "requester.name": "Rita",
        "requester.email": "rita\x1d@example.org",
    }
    before = len(await intake.documents())
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{intake.url}/submit/inquiry") as page:
            token = page.cookies["intake_csrf"].value
        async with http.post(
            f"{intake.url}/submit/inquiry",
            data=urlencode({**values, "csrf_token": token}),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"intake_csrf={token}",
            },
            allow_redirects=False,
        ) as reply:
            page = await reply.text()
            assert reply.status == 422, page
            assert "not an address mail can be sent to" in page
    assert len(await intake.documents()) == before


# --- item 10: account names -----------------------------------------------------------------


@pytest.mark.parametrize(
    "account",
    [
        "Vandal\u202e1",  # right-to-left override
        "Van\u2066dal",  # isolate
        "Vandal\u200f",  # right-to-left mark
        "Van\u061cdal",  # Arabic letter mark
        "Van\u200bdal",  # zero-width space (format)
        "Vandal\x85",  # a C1 control
        "Van/dal",
        "Van{dal}",
        "x" * 86,
        "Ж" * 43,  # 86 bytes of UTF-8
    ],
)
async def test_an_account_name_mediawiki_refuses_is_a_field_error(
    intake: Intake, http: aiohttp.ClientSession, account: str
) -> None:
    body = body_of(SubmissionKind.REQUEST, subject__account=account)
    assert {f for f, _ in await refused(intake, http, SubmissionKind.REQUEST, body)} == {
        "subject.account"
    }


async def test_a_look_alike_account_is_a_duplicate_of_the_original(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    name = f"Vandal{uuid.uuid4().hex[:6]}"
    alike = name.replace("a", "\u0430", 1)  # Cyrillic а
    assert alike != name
    first = body_of(SubmissionKind.REQUEST, subject__account=name)
    second = body_of(SubmissionKind.REQUEST, subject__account=alike)
    status, one, _ = await post(http, intake.submissions_url("request"), first)
    assert status == 202, one
    status, two, _ = await post(http, intake.submissions_url("request"), second)
    assert status == 202, two
    event = await the_event(intake, two["reference"])
    assert event.data["duplicate_of"] == one["reference"]


# --- items 11, 12: URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://[x", "url"),
        ("http://[x/wiki/Page", "url"),
        ("http://evil.example\\@127.0.0.1/wiki/X", "url"),
        ("http://evil.example\\.127.0.0.1/wiki/X", "url"),
        ("http://user:pw@127.0.0.1/wiki/X", "url"),
        ("http://evil%2Eexample/wiki/X", "url"),
    ],
)
async def test_a_url_a_browser_reads_differently_is_a_field_error(
    intake: Intake, http: aiohttp.ClientSession, url: str, rule: str
) -> None:
    body = body_of(SubmissionKind.REQUEST, evidence__0__url=url)
    assert body["evidence"][0]["where"] == "on-wiki-public"
    assert await refused(intake, http, SubmissionKind.REQUEST, body) == {("evidence.0.url", rule)}
    body = body_of(SubmissionKind.REQUEST, prior_attempts=[url])
    assert await refused(intake, http, SubmissionKind.REQUEST, body) == {("prior_attempts.0", rule)}


# --- item 13: references and idempotency keys ----------------------------------------------


async def test_references_are_not_derived_from_the_key_and_keys_are_per_client(
    intake: Intake,
) -> None:
    key = "1"  # the guessable key the attacker used
    body = body_of(SubmissionKind.INQUIRY)
    url = intake.submissions_url("inquiry")
    old_style = "R-" + base64.b32encode(hashlib.sha256(b"1").digest()).decode()[:12]

    async def from_address(address: str, payload: Json) -> tuple[int, Json, Any]:
        connector = aiohttp.TCPConnector(local_addr=(address, 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            return await post(http, url, payload, key=key)

    status, first, _ = await from_address("127.0.0.1", body)
    assert status == 202, first
    assert first["reference"] != old_style
    status, again, headers = await from_address("127.0.0.1", body)
    assert (status, again["reference"], headers["Idempotent-Replayed"]) == (
        202,
        first["reference"],
        "true",
    )
    # Another client using the same key with another body: its own submission, not a 409.
    other = body_of(SubmissionKind.INQUIRY, questions=["Who took the decision?"])
    status, theirs, headers = await from_address("127.0.0.2", other)
    assert status == 202, theirs
    assert theirs["reference"] != first["reference"] and "Idempotent-Replayed" not in headers
    # The first client reusing its key for something else is still a conflict.
    status, conflict, _ = await from_address("127.0.0.1", other)
    assert status == 409, conflict


# --- item 14: strict booleans ---------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, "true", "yes", 1.0])
async def test_booleans_are_true_or_false_only(
    intake: Intake, http: aiohttp.ClientSession, value: Any
) -> None:
    body = body_of(SubmissionKind.DMCA_NOTICE, good_faith_statement=value)
    assert await refused(intake, http, SubmissionKind.DMCA_NOTICE, body) == {
        ("good_faith_statement", "bool_type")
    }


# --- item 15: each path its own methods ------------------------------------------------------


def allowed(reply: aiohttp.ClientResponse) -> set[str]:
    return {m.strip() for m in reply.headers["Allow"].split(",")}


async def test_each_path_answers_and_advertises_only_its_methods(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    for kind in SubmissionKind:
        url = intake.submissions_url(kind.value)
        for method in ("OPTIONS", "GET", "PUT", "DELETE"):
            async with http.request(method, url) as reply:
                assert reply.status == 405, (method, url)
                assert allowed(reply) == {"POST"}, reply.headers
    reference = intake.submissions_url("R-AAAAAAAAAAAA")
    for method in ("OPTIONS", "POST", "PUT"):
        async with http.request(method, reference) as reply:
            assert reply.status == 405, (method, reference)
            assert allowed(reply) == {"GET", "HEAD"}, reply.headers
    async with http.get(intake.submissions_url("R-AAAAAAAAAAAA")) as reply:
        assert reply.status == 404


async def test_the_openapi_document_declares_the_policy_rules(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{intake.url}/api/v1/openapi.json") as reply:
        schemas = (await reply.json())["components"]["schemas"]
    request = schemas["RequestForm"]
    assert set(request["properties"]["action"]["enum"]) == set(POLICY.action_types)
    needs = {n for n, a in POLICY.action_types.items() if a.requires_prior_attempts}
    [rule] = request["allOf"]
    assert set(rule["if"]["properties"]["action"]["enum"]) == needs
    assert rule["then"]["required"] == ["prior_attempts"]
    appealable = {n for n, a in POLICY.action_types.items() if a.appealable}
    assert set(schemas["AppealForm"]["properties"]["action"]["enum"]) == appealable
    assert request["properties"]["summary"]["minLength"] == INTAKE.kind("request").summary.min_chars


# --- the mail channel: items 2, 7 and 9 ------------------------------------------------------


class Mail:
    def __init__(self, store: DocumentStore, submissions: Submissions, port: int) -> None:
        self.store = store
        self.submissions = submissions
        self.port = port

    async def send(
        self, raw: bytes, to: str, envelope_sender: str = "x@example.org"
    ) -> tuple[int, str]:
        try:
            _, text = await aiosmtplib.send(
                raw, sender=envelope_sender, recipients=[to], hostname="127.0.0.1", port=self.port
            )
        except aiosmtplib.SMTPResponseException as exc:
            return exc.code, exc.message
        return 250, text

    async def correspondence(self) -> list[Json]:
        return [d["correspondence"] for d in await self.store.find(CORRESPONDENCE)]


async def _never_published(*_: Any) -> None:
    raise AssertionError("the relay is not run in these tests")


@pytest.fixture
async def mail(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Mail]:
    from casework.outbox import OutboxRelay

    limits = getattr(request, "param", None)
    intake_rules = INTAKE
    if limits is not None:
        rate_limits = INTAKE.rate_limits.model_copy(update=limits)
        intake_rules = INTAKE.model_copy(update={"rate_limits": rate_limits})
    store = await open_store(f"sqlite:///{tmp_path / 'intake.sqlite3'}")
    submissions = Submissions(
        store,
        OutboxRelay(store, _never_published),
        Rules(POLICY, intake_rules, frozenset({"sandbox.test"})),
    )
    await submissions.prepare()
    pipeline = MailPipeline(submissions, ROUTING, MailLimits(max_bytes=200_000))
    listener = MailListener(
        pipeline, ROUTING, host="127.0.0.1", port=free_port(), max_bytes=200_000
    )
    await listener.start()
    try:
        yield Mail(store, submissions, listener.port)
    finally:
        await listener.stop()
        await store.close()


def letter(
    body: str,
    *,
    sender: str = "Rita Reporter <rita@example.org>",
    to: str = f"inquiries@{DOMAIN}",
    subject: str = "Question",
    msg_id: str | None = None,
    extra: str = "",
) -> bytes:
    msg_id = msg_id or f"{uuid.uuid4().hex}@example.org"
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{msg_id}>\r\n"
        f"{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body.replace("\n", "\r\n")
    ).encode()


INQUIRY = "Case: OA-ABCDEFGHIJKL\n\n1. Why was my account locked?\n2. Who decided?\n"


async def test_only_the_requester_speaks_for_the_requester(mail: Mail) -> None:
    code, text = await mail.send(
        letter(INQUIRY, msg_id="orig-1@example.org"), "inquiries@" + DOMAIN
    )
    assert code == 250 and "submitted" in text, text
    reference = text.split()[-1]

    # A stranger quoting the reference: filed, but flagged as a third party's.
    forged = letter(
        "I am the requester, drop it.", sender="mallory@evil.example", subject=f"Re: [{reference}]"
    )
    assert (await mail.send(forged, "inquiries@" + DOMAIN))[1].split()[-2:] == [
        "threaded",
        reference,
    ]
    # The stranger naming a Message-ID anyone can derive (notify's) is no better.
    guessed = letter(
        "Reply to your acknowledgement.",
        sender="mallory@evil.example",
        subject="Re: your inquiry",
        extra=f"In-Reply-To: <{reference}.0123456789abcdef@officeactions.casework>\r\n"
        f"References: <{reference}.0123456789abcdef@officeactions.casework>\r\n",
    )
    code, text = await mail.send(guessed, "inquiries@" + DOMAIN)
    assert code == 250 and "threaded" not in text, text  # a new (here: incomplete) inquiry
    # The requester's own address (domain in another case): the requester.
    own = letter("Here is more.", sender="rita@EXAMPLE.org", subject=f"Re: [{reference}]")
    await mail.send(own, "inquiries@" + DOMAIN)
    # From another address, but answering the requester's own message: the requester.
    threaded = letter(
        "Writing from my work address.",
        sender="rita.work@example.net",
        subject="Re: Question",
        extra="In-Reply-To: <orig-1@example.org>\r\nReferences: <orig-1@example.org>\r\n",
    )
    assert (await mail.send(threaded, "inquiries@" + DOMAIN))[1].split()[-2:] == [
        "threaded",
        reference,
    ]
    by_sender = {c["sender"]: c for c in await mail.correspondence()}
    assert {s: (c["from_requester"], c["sender_verified_by"]) for s, c in by_sender.items()} == {
        "mallory@evil.example": (False, None),
        "rita@example.org": (True, "address"),
        "rita.work@example.net": (True, "thread"),
    }
    assert len(await mail.correspondence()) == 3
    assert len(await mail.store.find(SUBMISSIONS)) == 1


def _waiting_case() -> Any:
    received = datetime(2026, 12, 21, 15, 30, tzinfo=UTC)
    submission = SubmissionReceived(
        submission_id="R-WAITING22222",
        kind=SubmissionKind.REQUEST,
        channel=Channel.FORM,
        action_type="global-ban",
        routed_to=POLICY.action("global-ban").routed_to,
        summary="Please act.",
        requester=Requester(name="R", email="r@example.org"),
        received_at=received,
    )
    case, _ = open_case(submission, POLICY, received)
    return set_waiting(case, True, "alice", received, calendar=calendar_for(case, POLICY))


def test_a_third_partys_mail_does_not_end_the_wait_for_the_requester() -> None:
    case = _waiting_case()
    calendar = calendar_for(case, POLICY)
    now = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
    base = {
        "submission_id": "R-WAITING22222",
        "channel": "email",
        "sender": "mallory@evil.example",
        "summary": "I am the requester.",
        "received_at": now.isoformat(),
    }
    # An event from before the field existed: a tolerant reader counts it as a third party's.
    old = CorrespondenceReceived.model_validate(base)
    after = record_correspondence(case, old, "event-old", now, calendar)
    assert after.waiting_for_requester
    assert after.timeline[-1].action == "third-party-correspondence"
    flagged = CorrespondenceReceived.model_validate({**base, "from_requester": False})
    assert record_correspondence(case, flagged, "event-2", now, calendar).waiting_for_requester
    own = CorrespondenceReceived.model_validate(
        {**base, "sender": "r@example.org", "from_requester": True, "sender_verified_by": "address"}
    )
    resumed = record_correspondence(case, own, "event-3", now, calendar)
    assert not resumed.waiting_for_requester
    assert resumed.timeline[-2].action == "correspondence"


async def test_a_from_address_that_cannot_be_mailed_is_refused(mail: Mail) -> None:
    for sender in (
        "<rita\x1c@example.org>",
        "rita@[127.0.0.1]",
        "rita@host.test",
        "rita@example.org, mallory@evil.example",
        "rita@example.org\r\nFrom: mallory@evil.example",  # two From headers
    ):
        code, text = await mail.send(letter(INQUIRY, sender=sender), "inquiries@" + DOMAIN)
        assert code == 550, (sender, code, text)
    assert await mail.store.find(SUBMISSIONS) == []
    assert await mail.store.find(INCOMPLETE) == []


async def test_a_template_address_that_cannot_be_mailed_is_asked_for_again(mail: Mail) -> None:
    code, text = await mail.send(
        letter(INQUIRY + "Email: rita<x>@example.org\n"), "inquiries@" + DOMAIN
    )
    assert code == 250 and "incomplete" in text, text
    [record] = await mail.store.find(INCOMPLETE)
    assert "requester.email" in {m["field"] for m in record["incomplete"]["missing"]}
    assert await mail.store.find(SUBMISSIONS) == []


INCOMPLETE_MAIL = "Case: OA-ABCDEFGHIJKL\n\nNo questions here."


async def answers(store: DocumentStore) -> int:
    """Incomplete records whose answer notify is asked to send (an event in the outbox)."""
    return len(await store.pending_outbox(1000))


async def test_one_answer_per_address_in_the_window(mail: Mail) -> None:
    outcomes = []
    for _ in range(5):  # the attacker's 65 forged mails, in short
        code, text = await mail.send(
            letter(INCOMPLETE_MAIL, sender="victim@example.org"), "inquiries@" + DOMAIN
        )
        assert code == 250, text
        outcomes.append(text.split()[-2])
    assert outcomes == ["incomplete"] + ["unanswered"] * 4
    assert len(await mail.store.find(INCOMPLETE)) == 5  # recorded for staff, all of them
    assert await answers(mail.store) == 1
    # Another address is answered.
    await mail.send(letter(INCOMPLETE_MAIL, sender="other@example.org"), "inquiries@" + DOMAIN)
    assert await answers(mail.store) == 2


@pytest.mark.parametrize(
    "extra",
    [
        "Auto-Submitted: auto-replied\r\n",
        "Auto-Submitted: auto-generated\r\n",
        "Precedence: bulk\r\n",
        "Precedence: list\r\n",
        "Precedence: junk\r\n",
        "List-Id: <attackers.lists.example>\r\n",
        "Return-Path: <>\r\n",
    ],
)
async def test_automated_and_list_mail_is_never_answered(mail: Mail, extra: str) -> None:
    code, text = await mail.send(letter(INCOMPLETE_MAIL, extra=extra), "inquiries@" + DOMAIN)
    assert (code, text.split()[-2]) == (250, "unanswered"), text
    assert await answers(mail.store) == 0


async def test_a_bounce_is_never_answered(mail: Mail) -> None:
    """MAIL FROM:<> (a delivery report), which aiosmtplib.send does not do: by hand."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=mail.port)
    await client.connect()
    try:
        await client.mail("")
        await client.rcpt("inquiries@" + DOMAIN)
        reply = await client.data(letter(INCOMPLETE_MAIL))
    finally:
        await client.quit()
    assert (reply.code, reply.message.split()[-2]) == (250, "unanswered"), reply
    assert await answers(mail.store) == 0


@pytest.mark.parametrize(
    "mail", [{"incomplete_per_client": Limit(max=2, per_seconds=3600)}], indirect=True
)
async def test_answers_to_one_client_are_limited(mail: Mail) -> None:
    codes = []
    for i in range(3):
        raw = letter(INCOMPLETE_MAIL, sender=f"victim{i}@example.org")
        codes.append((await mail.send(raw, "inquiries@" + DOMAIN))[0])
    assert codes == [250, 250, 451]
    assert await answers(mail.store) == 2
    assert len(await mail.store.find(INCOMPLETE)) == 2  # the deferred one comes again later


@pytest.mark.parametrize(
    "mail", [{"mail_per_client": Limit(max=2, per_seconds=3600)}], indirect=True
)
async def test_mail_from_one_client_is_limited(mail: Mail) -> None:
    codes = []
    for i in range(3):
        raw = letter(INQUIRY, sender=f"writer{i}@example.org")
        codes.append((await mail.send(raw, "inquiries@" + DOMAIN))[0])
    assert codes == [250, 250, 451]
    assert len(await mail.store.find(SUBMISSIONS)) == 2

"""Notify's handlers over real parts: an aiosmtpd SMTP server, the sandbox MediaWiki, SQLite.

Each test reads what arrived: the messages' headers (Message-ID, In-Reply-To,
Content-Language), their text and HTML parts, the wiki page, the delivery
records and the NotificationSent / NotificationFailed events in the outbox.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from casework.claims import Claimant, HeldElsewhere
from casework.cloudevents import CloudEvent
from casework.contract import (
    ActionEnforced,
    AlertKind,
    AlertRaised,
    Audience,
    CaseOpened,
    DecisionApproved,
    DecisionReversed,
    NotificationFailed,
    SubmissionIncomplete,
    SubmissionReceived,
    from_cloudevent,
)
from casework.dispatch import dispatcher
from casework.mediawiki import MediaWikiClient, MediaWikiError
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.store import DocumentStore, open_store
from casework.trust import EventRefused
from deploy.sandbox_wiki import SandboxWiki
from services.notify.adapters.deliveries import Deliveries, idempotency_key, message_id
from services.notify.adapters.functionaries import load_functionaries
from services.notify.adapters.log_page import LEVELS, LogPages
from services.notify.adapters.smtp import Mailer, SmtpSettings
from services.notify.app import build
from services.notify.domain.functionaries import Functionaries
from services.notify.domain.log_pages import MIN_PAGE_BYTES, continuation_summary, continued_at
from services.notify.domain.render import environment
from services.notify.handlers import HANDLERS
from services.notify.usecases import Notify
from services.notify.usecases.enforcement import EARLY_ENFORCED_WAIT_SECONDS
from tests.fixtures.keys import authority, full_chain, reversal_approvals, signed
from tests.support import smtp_server

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
LOG_PAGE = "Office actions log"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
USER = "vandal@sandbox.test"
REQUESTER = {"name": "Rita Requester", "email": "rita@example.org", "language": "en"}


@dataclass
class Inbox:
    """An SMTP server's behaviour: answer each RCPT/DATA as scripted, keep what it accepted."""

    data_replies: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    kept: list[EmailMessage] = field(default_factory=list)
    attempts: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        parsed = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        self.kept.append(parsed)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.kept if m["To"] == address]


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    with smtp_server(box) as port:
        yield box, port


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DocumentStore]:
    opened = await open_store(f"sqlite:///{tmp_path / 'notify.sqlite3'}")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def wiki(fresh_wiki: SandboxWiki) -> AsyncIterator[MediaWikiClient]:
    user, password = fresh_wiki.credentials()
    async with MediaWikiClient(fresh_wiki.api_url, user, password) as client:
        yield client


class NoPublish:
    async def __call__(self, *args: Any) -> None:
        raise AssertionError("the relay is not run here: the outbox is read instead")


@dataclass(frozen=True)
class Service:
    """Notify as app.py builds it: its use cases, and the handler its consumer calls."""

    notify: Notify
    handle: Callable[[CloudEvent], Awaitable[None]]


def notifier(
    store: DocumentStore,
    wiki: MediaWikiClient,
    port: int,
    *,
    attempts: int = 3,
    functionaries: Functionaries | None = None,
    clock: Callable[[], datetime] = lambda: NOW,
    owns: Callable[[str], bool] = lambda case_id: True,
    claimant: Claimant | None = None,
    log_page: str = LOG_PAGE,
    log_max_bytes: int = 100_000,
) -> Service:
    mailer = Mailer(
        SmtpSettings(
            host="127.0.0.1",
            port=port,
            username=None,
            password=None,
            starttls=False,
            sender="Trust & Safety <ts@officeactions.test>",
            attempts=attempts,
            backoff_seconds=0.01,
        )
    )
    relay = OutboxRelay(store, NoPublish())
    notify = build(
        store,
        relay,
        POLICY,
        environment(),
        mailer,
        wiki,
        LogPages(wiki, log_page, log_max_bytes, store, claimant or Claimant.this_process()),
        functionaries,
        owns=owns,
        clock=clock,
        claimant=claimant,
    )
    return Service(notify, dispatcher(HANDLERS, notify, authority(POLICY).admit))


def ground(clause_id: str) -> dict[str, Any]:
    clause = POLICY.clauses.items[clause_id]
    return {"id": clause_id, "catalogue_version": POLICY.clauses.version, **clause.model_dump()}


def decision(action_type: str = "global-ban", **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "action_type": action_type,
        "subject": {"account": "Vandal", "email": USER, "language": "ru"},
        "grounds": [ground("tou-4-harassment")],
        "public_rationale": "Sustained harassment of several contributors.",
        "appealable": True,
        "appeal_until": "2027-11-20T12:00:00+00:00",
        "language": "ru",
        "evidence": [
            {
                "id": "E1",
                "description": "personal attack",
                "url": "https://sandbox.test/diff/1",
                "where": "on-wiki-public",
                "audiences": ["public"],
            },
            {
                "id": "E2",
                "description": "SECRET threats in a private chat",
                "where": "off-wiki-private",
                "audiences": ["functionaries"],
            },
        ],
    }
    return {**fields, **changes}


FIRST_SIGNER = {"comment": "SECRET staff comment", "languages": ["en", "ru"]}


def enforced_event(case_id: str, **changes: Any) -> CloudEvent:
    return signed(
        ActionEnforced.model_validate(
            {
                "case_id": case_id,
                "decision": decision(**changes),
                "operations": [
                    {"wiki": "sandbox", "kind": "block", "target": "Vandal", "status": "done"}
                ],
                "enforced_at": NOW.isoformat(),
            }
        )
    )


def approved_event(case_id: str, **changes: Any) -> CloudEvent:
    return signed(
        DecisionApproved.model_validate(
            {
                "case_id": case_id,
                "decision": decision(**changes),
                "signoffs": [
                    s.model_dump(mode="json")
                    | (
                        {"comment": "SECRET staff comment", "languages": ["en", "ru"]}
                        if i == 0
                        else {}
                    )
                    for i, s in enumerate(
                        full_chain(changes.get("action_type", "global-ban"), POLICY, NOW)
                    )
                ],
                "approved_at": NOW.isoformat(),
            }
        )
    )


async def approve_and_enforce(service: Service, case_id: str, **changes: Any) -> None:
    """What notify reads of an enforced case: its approval, then its enforcement."""
    await service.handle(approved_event(case_id, **changes))
    await service.handle(enforced_event(case_id, **changes))


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


async def notify_events(store: DocumentStore) -> list[dict[str, Any]]:
    """The events on notify's own topic (the portal's public-level ones travel apart)."""
    return [
        {"type": e.event.type, **e.event.data}
        for e in await store.pending_outbox(1000)
        if e.topic == "officeactions.notify"
    ]


async def test_affected_user_email_once_with_both_parts_and_the_answers(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    service = notifier(store, wiki, port)
    await service.handle(approved_event("OA-MAIL1"))
    event = enforced_event("OA-MAIL1")
    await service.handle(event)
    await service.handle(event)  # redelivered
    [message] = box.to(USER)
    key = idempotency_key("OA-MAIL1", Audience.AFFECTED_USER, "email", "r1")
    assert message["Message-ID"] == message_id(key)
    assert message["Content-Language"] == "ru"
    text, page = text_of(message), html_of(message)
    # The policy's words in the user's language, not English (issue 18 §3).
    assert "Глобальный бан" in text and "бессрочно" in text and "Global ban" not in text
    assert "4 — Домогательства и оскорбления" in text
    assert "4 — Engaging in harassment and abuse" not in text
    assert "personal attack" in text and "SECRET" not in text  # functionaries-only item
    # Question 3 answered from the sign-offs: the case handler had Russian.
    assert "Ответственный за дело" in text and "ts-manager" not in text
    assert "Case handler" not in text
    assert "<html" in page and "personal attack" in page and "SECRET" not in page
    events = await notify_events(store)
    sent = [e for e in events if e["audience"] == "affected-user"]
    assert len(sent) == 1 and sent[0]["type"].endswith("notification-sent.v1")
    assert sent[0]["reference"] == message_id(key)


async def test_enforced_read_before_its_approval_waits_for_the_sign_offs(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    """The two events travel on different topics: after a rebalance the enforcement may be
    read first. The user is told once, after the approval, with the sign-offs' answers."""
    box, port = inbox
    service = notifier(store, wiki, port)
    await service.handle(enforced_event("OA-EARLY"))
    await service.handle(enforced_event("OA-EARLY"))  # redelivered
    assert box.to(USER) == []
    await service.handle(approved_event("OA-EARLY"))
    [message] = box.to(USER)
    # Question 3 answered from the sign-offs, in the user's language (Russian).
    assert "Ответственный за дело" in text_of(message)
    await service.handle(enforced_event("OA-EARLY"))  # redelivered once more
    await service.handle(approved_event("OA-EARLY"))
    assert len(box.to(USER)) == 1
    assert await service.notify.enforcement.release_overdue_enforced() == 0


async def test_enforced_whose_signed_approval_never_comes_is_never_told_and_raises_a_failure(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    """An ActionEnforced alone proves nothing (anyone who can write the bus can send one):
    without review's signed approval nobody is told, and ops get a permanent failure."""
    box, port = inbox
    service = notifier(store, wiki, port)
    await service.handle(enforced_event("OA-ORPHAN"))
    assert await service.notify.enforcement.release_overdue_enforced() == 0  # within the wait
    assert box.to(USER) == []
    later = NOW + timedelta(seconds=EARLY_ENFORCED_WAIT_SECONDS + 1)
    elsewhere = notifier(
        store, wiki, port, clock=lambda: later, owns=lambda case_id: case_id != "OA-ORPHAN"
    )
    assert await elsewhere.notify.enforcement.release_overdue_enforced() == 0  # not our case
    service = notifier(store, wiki, port, clock=lambda: later)
    assert await service.notify.enforcement.release_overdue_enforced() == 1
    assert box.to(USER) == []
    failures = [
        data
        for entry in await store.pending_outbox(limit=100)
        if isinstance(data := from_cloudevent(entry.event), NotificationFailed)
    ]
    assert [(f.case_id, f.permanent) for f in failures] == [("OA-ORPHAN", True)]
    assert "no signed approval" in failures[0].reason
    assert await service.notify.enforcement.release_overdue_enforced() == 0
    statements = await wiki.page(LOG_PAGE)
    assert statements is None or "OA-ORPHAN" not in statements.text


async def test_an_enforced_decision_other_than_the_approved_one_is_refused(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    """A forged ActionEnforced carrying another decision than the signed approval."""
    box, port = inbox
    service = notifier(store, wiki, port)
    await service.handle(approved_event("OA-SWAP1"))
    with pytest.raises(EventRefused, match="not the approved one"):
        await service.handle(
            enforced_event("OA-SWAP1", public_rationale="Something staff never approved.")
        )
    assert box.to(USER) == []


async def test_a_crash_between_send_and_record_resends_with_the_same_message_id(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    key = idempotency_key("OA-CRASH1", Audience.AFFECTED_USER, "email", "r1")
    # What a process killed after its SMTP call leaves behind: the record, still `sending`.
    await Deliveries(store).begin(
        key, {"case_id": "OA-CRASH1", "audience": "affected-user", "channel": "email"}
    )
    await approve_and_enforce(notifier(store, wiki, port), "OA-CRASH1")
    [message] = box.to(USER)
    assert message["Message-ID"] == message_id(key)
    record = await Deliveries(store).get(key)
    assert record is not None and record["state"] == "sent"


async def test_public_statement_appended_once_with_public_answers(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    _, port = inbox
    service = notifier(store, wiki, port)
    await approve_and_enforce(service, "OA-PUBLIC1")
    await approve_and_enforce(notifier(store, wiki, port), "OA-PUBLIC1")  # a restart
    page = await wiki.page(LOG_PAGE)
    assert page is not None
    assert page.text.count("casework:OA-PUBLIC1") == 1
    assert "personal attack" in page.text  # a public evidence item
    assert "SECRET" not in page.text and USER not in page.text
    assert "Terms of Use" in page.text
    # No legal determination was made: said so, never "not disclosed" (nothing is withheld).
    assert "'''Legal determination:''' none made" in page.text
    assert "'''Legal determination:''' not disclosed" not in page.text


async def test_confidential_action_has_no_public_statement_and_says_why(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    service = notifier(store, wiki, port)
    await approve_and_enforce(
        service, "OA-WARN1", action_type="conduct-warning", appealable=False, appeal_until=None
    )
    page = await wiki.page(LOG_PAGE)
    assert page is None or "OA-WARN1" not in page.text
    [warned] = box.to(USER)
    # The Russian-speaking user reads the action's title in Russian.
    assert "Предупреждение о поведении" in text_of(warned)
    assert "Conduct warning" not in text_of(warned)
    records = {d["audience"]: d for d in await Deliveries(store).of_case("OA-WARN1")}
    assert records["public"]["state"] == "withheld"
    assert "conduct-warning is confidential" in records["public"]["reference"]
    assert await store.get("dsa_statements", "OA-WARN1:r1") is None


async def test_requester_thread_ack_missing_fields_outcome(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    service = notifier(store, wiki, port)
    incoming = "<original.123@mail.example.org>"
    await service.handle(
        signed(
            SubmissionIncomplete.model_validate(
                {
                    "reference": "R-THREAD1",
                    "kind": "request",
                    "channel": "email",
                    "missing": [
                        {
                            "field": "subject.account",
                            "rule": "required",
                            "message": "name the account",
                        }
                    ],
                    "requester_email": REQUESTER["email"],
                    "requester_name": REQUESTER["name"],
                    "in_reply_to": incoming,
                    "received_at": NOW.isoformat(),
                }
            )
        )
    )
    received = SubmissionReceived.model_validate(
        {
            "submission_id": "R-THREAD1",
            "kind": "request",
            "channel": "email",
            "action_type": "global-ban",
            "routed_to": "support-and-safety",
            "summary": "harassment",
            "requester": REQUESTER,
            "received_at": NOW.isoformat(),
        }
    )
    await service.handle(signed(received))
    await service.handle(signed(received))  # redelivered
    await service.handle(
        signed(
            CaseOpened(
                case_id="OA-THREAD1",
                submission_id="R-THREAD1",
                action_type="global-ban",
                routed_to="support-and-safety",
                opened_at=NOW,
                deadline_at=None,
            )
        )
    )
    await service.handle(approved_event("OA-THREAD1"))
    missing, ack, outcome = box.to(REQUESTER["email"])
    assert missing["In-Reply-To"] == incoming
    assert "subject.account: name the account" in text_of(missing)
    assert "R-THREAD1" in ack["Subject"] and "R-THREAD1" in text_of(ack)
    assert outcome["In-Reply-To"] == ack["Message-ID"]
    body = text_of(outcome)
    assert "Global ban" in body and "R-THREAD1" in body
    assert "personal attack" in body
    assert USER not in body and "SECRET" not in body  # nothing private of the subject


async def test_functionaries_briefed_per_wiki_at_their_level(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    listing = load_functionaries(ROOT / "deploy" / "functionaries.yaml")
    service = notifier(store, wiki, port, functionaries=listing)
    await service.handle(approved_event("OA-BRIEF1"))
    await service.handle(approved_event("OA-BRIEF1"))
    [brief] = box.to("functionaries@sandbox.test")
    assert "[Confidential, NDA]" in brief["Subject"]
    body = text_of(brief)
    assert "SECRET threats" in body  # released to functionaries
    assert "SECRET staff comment" not in body and "alice" not in body
    assert USER not in body


async def test_transient_smtp_failures_are_retried(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    box.data_replies = ["451 4.3.0 try again later", "421 4.3.2 busy"]
    await approve_and_enforce(notifier(store, wiki, port, attempts=3), "OA-RETRY1")
    assert len(box.to(USER)) == 1
    assert box.attempts == 3
    key = idempotency_key("OA-RETRY1", Audience.AFFECTED_USER, "email", "r1")
    record = await Deliveries(store).get(key)
    assert record is not None and record["state"] == "sent" and record["attempts"] == 3


async def test_failure_after_the_last_try_is_reported(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    box.data_replies = ["451 4.3.0 try again later"] * 5
    await approve_and_enforce(notifier(store, wiki, port, attempts=2), "OA-GIVEUP1")
    assert box.to(USER) == [] and box.attempts == 2
    [failed] = [
        e for e in await notify_events(store) if e["type"].endswith("notification-failed.v1")
    ]
    assert failed["attempt"] == 2 and failed["permanent"] is True
    assert failed["case_id"] == "OA-GIVEUP1"


async def test_a_bounce_is_permanent_and_not_retried(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    box.refuse = {USER}
    service = notifier(store, wiki, port, attempts=4)
    await approve_and_enforce(service, "OA-BOUNCE1")
    await approve_and_enforce(service, "OA-BOUNCE1")
    [failed] = [
        e for e in await notify_events(store) if e["type"].endswith("notification-failed.v1")
    ]
    assert failed["permanent"] is True and failed["attempt"] == 1
    assert "550" in failed["reason"]
    key = idempotency_key("OA-BOUNCE1", Audience.AFFECTED_USER, "email", "r1")
    record = await Deliveries(store).get(key)
    assert record is not None and record["state"] == "failed" and record["permanent"] is True


async def test_reversal_tells_the_user_and_updates_the_log_once(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    service = notifier(store, wiki, port)
    await approve_and_enforce(service, "OA-UNDO1")
    reversal = signed(
        DecisionReversed.model_validate(
            {
                "case_id": "OA-UNDO1",
                "decision": decision(),
                "reason": "Appeal upheld: the account was compromised.",
                "reversed_by": "bob",
                "reversed_at": NOW.isoformat(),
                "grounds": "error",
                "approvals": [
                    a.model_dump(mode="json") for a in reversal_approvals(POLICY, 4, NOW)
                ],
            }
        )
    )
    await service.handle(reversal)
    await service.handle(reversal)
    enforced_mail, reversed_mail = box.to(USER)
    assert "OA-UNDO1" in enforced_mail["Subject"]
    assert "OA-UNDO1" in reversed_mail["Subject"] and "отменено" in reversed_mail["Subject"]
    assert "Appeal upheld" in text_of(reversed_mail)
    page = await wiki.page(LOG_PAGE)
    assert page is not None
    assert page.text.count("casework:OA-UNDO1:reversed") == 1
    assert "Appeal upheld: the account was compromised." in page.text


def alert_event(key: str, ops_address: str | None) -> CloudEvent:
    return signed(
        AlertRaised(
            alert_key=key,
            kind=AlertKind.ENFORCEMENT_FAILED,
            case_id="OA-ALERT1",
            what_happened="Blocking Vandal1 on sandbox failed: permissiondenied.",
            what_to_do="Give the role account the block right, then retry the case.",
            case_url="http://127.0.0.1:8082/console/cases/OA-ALERT1",
            ops_address=ops_address,
            raised_at=NOW,
        )
    )


async def test_a_monitor_alert_is_mailed_to_ops_once(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    service = notifier(store, wiki, port)
    event = alert_event("enforcement-failed:OA-ALERT1:sandbox", "ops@officeactions.test")
    await service.handle(event)
    await service.handle(event)  # redelivered
    [message] = box.to("ops@officeactions.test")
    text = text_of(message)
    assert "permissiondenied" in text and "Give the role account" in text
    assert "/console/cases/OA-ALERT1" in text
    assert "OA-ALERT1" in str(message["Subject"])
    sent = [e for e in await notify_events(store) if e["audience"] == "staff"]
    assert len(sent) == 1 and sent[0]["type"].endswith("notification-sent.v1")


async def test_an_alert_without_an_ops_address_sends_nothing(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    await notifier(store, wiki, port).handle(alert_event("dead-lettered:x", None))
    assert box.kept == []
    assert await notify_events(store) == []


async def _statement_pages(wiki: MediaWikiClient, first: str) -> list[str]:
    """The text of each page of the log, first to last."""
    texts: list[str] = []
    while (
        page := await wiki.page(first if not texts else f"{first}/{len(texts) + 1}")
    ) is not None:
        texts.append(page.text)
    return texts


async def test_a_full_log_page_goes_on_on_the_next_page_and_nothing_twice(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    """Every append re-renders the whole page and the wiki refuses pages over its limit:
    past MIN_PAGE_BYTES the log goes on on its next page, linked from the full one."""
    _, port = inbox
    first = "Office actions log rolled"
    texts = await _filled_log(store, wiki, port, first, "OA-ROLL")
    cases = [f"OA-ROLL{n}" for n in range(9)]
    for case_id in cases:  # each statement once, on one page
        assert sum(t.count(f"casework:{case_id}") for t in texts) == 1, case_id
    for number, text in enumerate(texts[:-1], start=1):
        following = f"{first}/{number + 1}"
        assert text.count(f"[[{following}]]") == 1
        assert len(text.encode()) <= MIN_PAGE_BYTES + len(continued_at(following).encode())
        assert (
            f"Continued from [[{first if number == 1 else f'{first}/{number}'}]]" in (texts[number])
        )
    newest = f"{first}/{len(texts)}"
    state = await wiki.page_state(newest)
    assert {p.type: p.level for p in state.protection if p.expiry is None} == LEVELS
    # The statement's record names the page it is on.
    last = await Deliveries(store).get(
        idempotency_key(cases[-1], Audience.PUBLIC, "wiki-page", "r1")
    )
    assert last is not None and last["reference"].startswith(f"{newest}?oldid=")

    # Restarted (a new instance knows only the first page): the next goes on the newest;
    # one already there is not appended again.
    restarted = notifier(store, wiki, port, log_page=first, log_max_bytes=MIN_PAGE_BYTES)
    await approve_and_enforce(restarted, "OA-ROLLNEXT")
    await approve_and_enforce(restarted, cases[0])
    texts_after = await _statement_pages(wiki, first)
    assert texts_after[: len(texts) - 1] == texts[:-1]  # full pages are left alone
    assert sum(t.count("casework:OA-ROLLNEXT") for t in texts_after) == 1
    assert "casework:OA-ROLLNEXT" in texts_after[-1]
    assert sum(t.count(f"casework:{cases[0]}") for t in texts_after) == 1
    # The start-up duty and the first statement looking for the newest page at once.
    pages = LogPages(wiki, first, MIN_PAGE_BYTES, store, Claimant.this_process())
    newest_found, (page, _) = await asyncio.gather(pages.newest_title(), pages.page_for(100))
    assert newest_found == page == f"{first}/{len(texts_after)}"
    assert len(await pages.titles()) == len(texts_after)


async def _filled_log(
    store: DocumentStore, wiki: MediaWikiClient, port: int, first: str, prefix: str
) -> list[str]:
    """Nine statements on a log of the smallest page size (it goes on at least once);
    the text of each page."""
    for n in range(9):
        await approve_and_enforce(
            notifier(store, wiki, port, log_page=first, log_max_bytes=MIN_PAGE_BYTES),
            f"{prefix}{n}",
        )
    texts = await _statement_pages(wiki, first)
    assert len(texts) >= 2, [len(t) for t in texts]
    return texts


async def test_a_statement_that_landed_before_a_crash_is_found_on_any_page(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    """Killed between the edit and its record, after the log went on: the role account's
    edit with the case's summary is found on the page it is on, and not made again."""
    _, port = inbox
    first = "Office actions log resumed"
    await _filled_log(store, wiki, port, first, "OA-RES")
    older = first  # the statement landed on the first page, before the log went on
    summary = "Office action OA-RESCRASH: public statement"
    landed = await wiki.append_once(older, "\n\nlanded before the crash", summary)
    key = idempotency_key("OA-RESCRASH", Audience.PUBLIC, "wiki-page", "r1")
    await Deliveries(store).begin(
        key, {"case_id": "OA-RESCRASH", "audience": "public", "channel": "wiki-page"}
    )
    restarted = notifier(store, wiki, port, log_page=first, log_max_bytes=MIN_PAGE_BYTES)
    await approve_and_enforce(restarted, "OA-RESCRASH")
    texts_after = await _statement_pages(wiki, first)
    assert all("casework:OA-RESCRASH" not in t for t in texts_after)
    record = await Deliveries(store).get(key)
    assert record is not None and record["state"] == "sent"
    assert record["reference"] == f"{older}?oldid={landed}"


async def test_the_log_goes_on_once_after_a_crash_between_its_link_and_its_next_page(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    """The link to the next page was added, then the process died before making the page:
    the next statement makes it, and the link is not added again."""
    _, port = inbox
    first = "Office actions log linked"
    texts = await _filled_log(store, wiki, port, first, "OA-LNK")
    newest, following = len(texts), f"{first}/{len(texts) + 1}"
    newest_title = first if newest == 1 else f"{first}/{newest}"
    # Fill the newest page, then leave only the link behind, as the crash would.
    await wiki.append_once(newest_title, "\n\n" + "x" * MIN_PAGE_BYTES, "filler")
    for page in dict.fromkeys((newest_title, first)):
        await wiki.append_once(page, continued_at(following), continuation_summary(following))
    await approve_and_enforce(
        notifier(store, wiki, port, log_page=first, log_max_bytes=MIN_PAGE_BYTES), "OA-LNKNEXT"
    )
    texts_after = await _statement_pages(wiki, first)
    assert len(texts_after) == newest + 1
    assert "casework:OA-LNKNEXT" in texts_after[-1]
    assert texts_after[newest - 1].count(f"[[{following}]]") == 1
    assert texts_after[0].count(f"[[{following}]]") == 1


async def test_two_instances_finding_the_log_full_at_once_go_on_once(
    store: DocumentStore, wiki: MediaWikiClient
) -> None:
    """Both see the page full; the store's claim lets one make the next page and link it,
    the other is told it is held elsewhere (its event is read again) and then follows."""
    first = "Office actions log raced"
    await wiki.append_once(first, "x" * (MIN_PAGE_BYTES - 100), "filler")
    one, other = (
        LogPages(wiki, first, MIN_PAGE_BYTES, store, Claimant(holder, 15.0))
        for holder in ("notify-1", "notify-2")
    )
    results = await asyncio.gather(one.page_for(500), other.page_for(500), return_exceptions=True)
    following = f"{first}/2"
    went_on = [r for r in results if not isinstance(r, BaseException)]
    assert [page for page, _ in went_on] in ([following], [following, following]), results
    assert all(isinstance(r, HeldElsewhere) for r in results if r not in went_on), results
    for pages in (one, other):
        page, revision = await pages.page_for(500)
        assert page == following and revision > 0
    texts = await _statement_pages(wiki, first)
    assert len(texts) == 2
    assert texts[0].count(f"[[{following}]]") == 1


async def test_a_next_page_someone_else_made_first_is_never_written_to(
    store: DocumentStore, wiki: MediaWikiClient, fresh_wiki: SandboxWiki
) -> None:
    """Anyone may create the log's next page before the role account does: nothing is
    appended to it (a transient refusal, so the statement waits), and once an
    administrator has deleted it the role account makes the page and the log goes on."""
    first = "Office actions log squatted"
    following = f"{first}/2"
    await wiki.append_once(first, "x" * (MIN_PAGE_BYTES - 100), "filler")
    async with MediaWikiClient(fresh_wiki.api_url, "Vandal1", "vandal1-sandbox-password") as vandal:
        await vandal.edit(following, text="The statements below are ours.", summary="x")
    pages = LogPages(wiki, first, MIN_PAGE_BYTES, store, Claimant.this_process())
    with pytest.raises(MediaWikiError, match="not made by the role account") as refused:
        await pages.page_for(500)
    assert refused.value.transient
    assert not await wiki.created_by_us(following)
    await wiki.delete(following, reason="not the role account's")
    page, revision = await pages.page_for(500)
    assert (page, revision > 0) == (following, True)
    assert await wiki.created_by_us(following)
    texts = await _statement_pages(wiki, first)
    assert "ours" not in texts[1] and f"Continued from [[{first}]]" in texts[1]
    assert texts[0].count(f"[[{following}]]") == 1

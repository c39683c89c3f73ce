"""Review's use cases over a real store (SQLite, and the nx-27017 Mongo server when it runs):
opening from events, the queue and its indexes, access, reversal of appeals, tampering,
correspondence, and the deadline duty across a restart. The outbox is read from the store:
what a use case would publish is exactly what it stored with its write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from casework.cloudevents import CloudEvent
from casework.contract import (
    Channel,
    CorrespondenceReceived,
    DecisionReversed,
    DuplicateMerged,
    EventData,
    Requester,
    Subject,
    SubmissionKind,
    SubmissionReceived,
    TamperingDetected,
    from_cloudevent,
)
from casework.dispatch import dispatcher
from casework.errors import Kind, Rejected
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.store import DocumentStore, StoreError
from services.review.adapters.staff_file import load_staff
from services.review.domain.case import CaseState
from services.review.domain.casefile import AssignForm, RestorationForm, WaitingForm
from services.review.domain.decision import DecisionForm, DeterminationForm
from services.review.domain.opening import MergeForm, case_id_for
from services.review.domain.queue import QueueQuery
from services.review.domain.reversal import ReversalForm
from services.review.domain.signoff import SignOffForm
from services.review.domain.staff import StaffMember
from services.review.handlers import HANDLERS
from services.review.usecases import ReviewCases
from services.review.usecases.deadlines import DeadlineDuty
from tests.fixtures.keys import authority, reversal_approvals, session_signer, signed
from tests.fixtures.stores import nx27017, reopen, store  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
STAFF = load_staff(ROOT / "deploy" / "demo-staff.yaml", POLICY)
BY_ID = {m.id: m for m in STAFF.staff}
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # a Friday
REQUESTER = Requester(name="Reporter", email="reporter@example.org")


def staff(staff_id: str) -> StaffMember:
    return BY_ID[staff_id]


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


async def _never(topic: str, event: CloudEvent) -> None:
    raise AssertionError("the relay does not run in these tests")


def review(opened: DocumentStore, clock: Clock) -> ReviewCases:
    return ReviewCases(
        opened, OutboxRelay(opened, _never), POLICY, BY_ID.get, session_signer(), clock
    )


@pytest.fixture
async def setup(store: DocumentStore) -> AsyncIterator[tuple[ReviewCases, Clock]]:
    clock = Clock()
    cases = review(store, clock)
    await cases.ensure_indexes()
    yield cases, clock


async def published(store: DocumentStore) -> list[EventData]:
    out = []
    for entry in await store.pending_outbox(limit=1000):
        data = from_cloudevent(entry.event)
        assert data is not None
        out.append(data)
    return out


def kinds(events: list[EventData]) -> list[str]:
    return [type(e).__name__ for e in events]


def submission(n: int, action: str | None = "global-ban", **fields: Any) -> SubmissionReceived:
    base: dict[str, Any] = {
        "submission_id": f"R-TEST{n:08d}",
        "kind": SubmissionKind.REQUEST,
        "channel": Channel.API,
        "action_type": action,
        "routed_to": POLICY.action(action).routed_to if action else "support-and-safety",
        "summary": "Harassment.",
        "subject": Subject(account=f"Subject {n}"),
        "requester": REQUESTER,
        "received_at": START,
    }
    return SubmissionReceived(**{**base, **fields})


def decision(n: int, **fields: Any) -> DecisionForm:
    return DecisionForm.model_validate(
        {
            "subject": {"account": f"Subject {n}"},
            "grounds": ["ucoc-3-1"],
            "public_rationale": "Harassment.",
            **fields,
        }
    )


async def refused(call: Any, *args: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        await call(*args)
    return caught.value


async def approve(cases: ReviewCases, case_id: str, n: int) -> None:
    await cases.draft_decision(staff("alice"), case_id, decision(n))
    for who, level in [
        ("alice", "case-handler"),
        ("bob", "ts-manager"),
        ("carol", "legal-counsel"),
    ]:
        await cases.sign_off(
            staff(who), case_id, SignOffForm(level=level, verdict="approve", comment="ok")
        )
    await cases.sign_off(
        staff("dave"), case_id, SignOffForm(level="director", verdict="approve", comment="ok")
    )


# --- opening --------------------------------------------------------------------------------


async def test_a_submission_opens_one_case_even_when_redelivered(
    setup: tuple[ReviewCases, Clock],
    store: DocumentStore,
) -> None:
    cases, _ = setup
    await cases.submission_received(submission(1))
    await cases.submission_received(submission(1))
    case = await cases.read(staff("alice"), case_id_for("R-TEST00000001"))
    assert case.state is CaseState.OPEN
    # The requester's tracking page hears "under review" once too.
    assert kinds(await published(store)) == ["CaseOpened", "CaseProgressed"]


async def test_staff_merge_a_duplicate_submission(
    setup: tuple[ReviewCases, Clock], store: DocumentStore
) -> None:
    cases, _ = setup
    await cases.submission_received(submission(1))
    dup = submission(2, duplicate_of="R-TEST00000001", named_staff=["tess"])
    await cases.submission_received(dup)
    flagged = await cases.read(staff("alice"), "OA-TEST00000002")
    assert flagged.state is CaseState.OPEN
    assert [(x.kind, x.case_id) for x in flagged.links] == [("duplicate-of", "OA-TEST00000001")]
    merged = await cases.merge(staff("alice"), "OA-TEST00000002", MergeForm(into="OA-TEST00000001"))
    assert merged.state is CaseState.MERGED
    original = await cases.read(staff("alice"), "OA-TEST00000001")
    assert [x.case_id for x in original.links] == ["OA-TEST00000002"]
    # Its requester hears the original's outcome (issue 18): review says whose it is.
    [told] = [e for e in await published(store) if isinstance(e, DuplicateMerged)]
    assert (told.case_id, told.duplicate_case_id, told.duplicate_submission_id) == (
        "OA-TEST00000001",
        "OA-TEST00000002",
        "R-TEST00000002",
    )
    # The staff named in the duplicate are now barred from the original too.
    error = await refused(cases.read, staff("tess"), "OA-TEST00000001")
    assert error.kind is Kind.NOT_FOUND
    missing = await refused(
        cases.merge, staff("alice"), "OA-TEST00000001", MergeForm(into="OA-NONE")
    )
    assert (missing.kind, missing.errors[0].field) == (Kind.NOT_FOUND, "into")


# --- access ---------------------------------------------------------------------------------


async def test_staff_named_in_an_abuse_report_do_not_see_it(
    setup: tuple[ReviewCases, Clock],
) -> None:
    cases, _ = setup
    report = submission(3, kind=SubmissionKind.ABUSE_REPORT, named_staff=["Bob"])
    await cases.submission_received(report)
    await cases.submission_received(submission(4))
    error = await refused(cases.read, staff("bob"), "OA-TEST00000003")
    assert error.kind is Kind.NOT_FOUND
    page = await cases.queue(staff("bob"), QueueQuery())
    assert [c.id for c in page.cases] == ["OA-TEST00000004"]
    assign = await refused(
        cases.assign, staff("alice"), "OA-TEST00000003", AssignForm(assignee="bob")
    )
    assert (assign.kind, assign.errors[0].field) == (Kind.FORBIDDEN, "assignee")


async def test_roles_limit_what_staff_may_do(setup: tuple[ReviewCases, Clock]) -> None:
    cases, _ = setup
    await cases.submission_received(submission(5))
    error = await refused(cases.draft_decision, staff("otto"), "OA-TEST00000005", decision(5))
    assert error.kind is Kind.FORBIDDEN  # the auditor reads only
    await cases.read(staff("otto"), "OA-TEST00000005")


async def test_the_legal_determination_is_shown_word_for_word_to_counsel_only(
    setup: tuple[ReviewCases, Clock],
) -> None:
    cases, _ = setup
    await cases.submission_received(submission(6))
    await cases.draft_decision(staff("alice"), "OA-TEST00000006", decision(6))
    body = DeterminationForm(
        text="Privileged analysis.",
        disclosure="redacted",
        redacted_text="Summary.",
        grounds="Privilege.",
    )
    case = await cases.record_determination(staff("carol"), "OA-TEST00000006", body)
    counsel = cases.view(staff("carol"), case)
    assert counsel.determination_in_full
    assert counsel.decision is not None and counsel.decision.determination is not None
    assert counsel.decision.determination.text == "Privileged analysis."
    handler = cases.view(staff("alice"), case)
    assert not handler.determination_in_full
    assert handler.decision is not None and handler.decision.determination is not None
    assert handler.decision.determination.text == "Summary."
    assert "Privileged analysis" not in handler.model_dump_json()


# --- the queue ------------------------------------------------------------------------------


async def test_the_queue_filters_sorts_by_urgency_and_pages(
    setup: tuple[ReviewCases, Clock],
) -> None:
    cases, clock = setup
    actions = ["global-ban", "child-protection", "dmca-takedown", "conduct-warning", "event-ban"]
    for n, action in enumerate(actions * 2):
        extra: dict[str, Any] = {"received_at": START + timedelta(minutes=n)}
        if action in ("child-protection", "dmca-takedown"):
            extra["subject"] = None
        clock.now = START + timedelta(minutes=n)
        await cases.submission_received(submission(n, action, **extra))
    await cases.assign(staff("alice"), "OA-TEST00000000", AssignForm(assignee="alice"))
    page = await cases.queue(staff("alice"), QueueQuery(limit=3))
    # child protection (24 h) first, then DMCA (7 business days), then the 28-day ones.
    assert [c.action_type for c in page.cases] == ["child-protection"] * 2 + ["dmca-takedown"]
    seen = [c.id for c in page.cases]
    while page.next_cursor:
        page = await cases.queue(staff("alice"), QueueQuery(limit=3, cursor=page.next_cursor))
        seen += [c.id for c in page.cases]
    assert sorted(seen) == sorted(f"OA-TEST{n:08d}" for n in range(10))
    assert len(set(seen)) == 10
    assert [c.action_type for c in (await cases.queue(staff("alice"), QueueQuery(limit=10))).cases][
        -2:
    ] == ["conduct-warning"] * 2  # no deadline: last
    mine = await cases.queue(staff("bob"), QueueQuery(assignee="alice"))
    assert [c.id for c in mine.cases] == ["OA-TEST00000000"]
    soon = await cases.queue(staff("bob"), QueueQuery(deadline_before=START + timedelta(days=3)))
    assert {c.action_type for c in soon.cases} == {"child-protection"} and soon.next_cursor is None
    dmca = await cases.queue(staff("bob"), QueueQuery(action_type="dmca-takedown", state="open"))
    assert len(dmca.cases) == 2
    newest = await cases.queue(staff("bob"), QueueQuery(sort="opened", limit=1))
    assert newest.cases[0].id == "OA-TEST00000009"


async def test_a_bad_cursor_is_refused(setup: tuple[ReviewCases, Clock]) -> None:
    cases, _ = setup
    error = await refused(cases.queue, staff("alice"), QueueQuery(cursor="not-a-cursor"))
    assert [(e.field, e.rule) for e in error.errors] == [("cursor", "valid_cursor")]


# --- reversal of an appeal ------------------------------------------------------------------


async def test_an_upheld_appeal_reverses_the_original_and_closes_the_appeal(
    setup: tuple[ReviewCases, Clock],
    store: DocumentStore,
) -> None:
    cases, _ = setup
    await cases.submission_received(submission(7))
    await approve(cases, "OA-TEST00000007", 7)
    appeal = submission(8, kind=SubmissionKind.APPEAL, refers_to="OA-TEST00000007")
    await cases.submission_received(appeal)
    upheld = ReversalForm(
        grounds="appeal-upheld", reason="Upheld.", appeal_case_id="OA-TEST00000008"
    )
    # bob signed the original as manager: he may not decide the appeal.
    error = await refused(cases.reverse, staff("bob"), "OA-TEST00000007", upheld)
    assert error.kind is Kind.FORBIDDEN
    assert (await cases.read(staff("alice"), "OA-TEST00000007")).state is CaseState.APPROVED
    # Two directors who did not sign: the first records it, the second reverses.
    await cases.reverse(outsider("dina"), "OA-TEST00000007", upheld)
    assert (await cases.read(staff("alice"), "OA-TEST00000007")).state is CaseState.APPROVED
    assert (await cases.read(staff("alice"), "OA-TEST00000008")).state is CaseState.OPEN
    await cases.reverse(outsider("dora"), "OA-TEST00000007", upheld)
    assert (await cases.read(staff("alice"), "OA-TEST00000007")).state is CaseState.REVERSED
    assert (await cases.read(staff("alice"), "OA-TEST00000008")).state is CaseState.CLOSED
    events = await published(store)
    assert [k for k in kinds(events) if k != "CaseProgressed"][-1] == "DecisionReversed"


class FailingReplace:
    """The real store, except that replacing one document fails: the outage (or crash)
    between the reversal's write and the appeal's."""

    def __init__(self, inner: DocumentStore, doc_id: str) -> None:
        self.inner = inner
        self.doc_id = doc_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def replace(self, collection: str, doc: Any, **kwargs: Any) -> Any:
        if doc["_id"] == self.doc_id:
            raise StoreError(f"injected: replacing {self.doc_id} fails")
        return await self.inner.replace(collection, doc, **kwargs)


async def test_an_appeal_left_open_by_a_failed_second_write_is_closed_by_the_reversal_event(
    setup: tuple[ReviewCases, Clock],
    store: DocumentStore,
) -> None:
    cases, clock = setup
    await cases.submission_received(submission(9))
    await approve(cases, "OA-TEST00000009", 9)
    await cases.submission_received(
        submission(10, kind=SubmissionKind.APPEAL, refers_to="OA-TEST00000009")
    )
    failing = review(cast(DocumentStore, FailingReplace(store, "OA-TEST00000010")), clock)
    upheld = ReversalForm(
        grounds="appeal-upheld", reason="Upheld.", appeal_case_id="OA-TEST00000010"
    )
    await cases.reverse(outsider("dina"), "OA-TEST00000009", upheld)
    await failing.reverse(outsider("dora"), "OA-TEST00000009", upheld)
    assert (await cases.read(staff("alice"), "OA-TEST00000009")).state is CaseState.REVERSED
    assert (await cases.read(staff("alice"), "OA-TEST00000010")).state is CaseState.OPEN
    [entry] = [
        e for e in await store.pending_outbox(limit=1000) if e.event.type == DecisionReversed.TYPE
    ]
    handle = dispatcher(HANDLERS, cases, authority(POLICY).admit)
    clock.now += timedelta(minutes=1)
    for _ in range(2):  # delivered at least once
        await handle(entry.event)
    appeal = await cases.read(staff("alice"), "OA-TEST00000010")
    assert appeal.state is CaseState.CLOSED
    closed = [(e.actor, e.detail) for e in appeal.timeline if e.action == "appeal-upheld"]
    assert closed == [("dora", "OA-TEST00000009 reversed")]


def outsider(staff_id: str, **fields: Any) -> StaffMember:
    """A director who did not sign the cases of these tests."""
    return staff("dave").model_copy(update={"id": staff_id, **fields})


async def reversal_events(store: DocumentStore) -> list[EventData]:
    return [e for e in await published(store) if isinstance(e, DecisionReversed)]


async def test_one_person_cannot_reverse_a_multi_level_decision(
    setup: tuple[ReviewCases, Clock],
    store: DocumentStore,
) -> None:
    cases, clock = setup
    await cases.submission_received(submission(12))
    await approve(cases, "OA-TEST00000012", 12)
    error = ReversalForm(grounds="error", reason="Wrong account.")
    pending = await cases.reverse(outsider("dina"), "OA-TEST00000012", error)
    assert pending.state is CaseState.APPROVED and pending.pending_reversal is not None
    assert await reversal_events(store) == []
    view = cases.view(staff("alice"), await cases.read(staff("alice"), "OA-TEST00000012"))
    assert view.reversal_approvals_missing == 1
    # The same person twice is one approval.
    again = await refused(cases.reverse, outsider("dina"), "OA-TEST00000012", error)
    assert (again.kind, [(e.field, e.rule) for e in again.errors]) == (
        Kind.CONFLICT,
        [("staff", "one_approval_per_person")],
    )
    # Whoever confirms passes the same separation of duties: not the subject...
    subject = outsider("sol", wiki_accounts=["Subject 12"])
    denied = await refused(cases.reverse, subject, "OA-TEST00000012", error)
    assert [(e.field, e.rule) for e in denied.errors] == [("level", "not_subject")]
    # ...nor the requester.
    requester = outsider("rene", email=REQUESTER.email)
    denied = await refused(cases.reverse, requester, "OA-TEST00000012", error)
    assert [(e.field, e.rule) for e in denied.errors] == [("level", "not_requester")]
    assert await reversal_events(store) == []
    clock.now += timedelta(minutes=5)
    done = await cases.reverse(outsider("dora"), "OA-TEST00000012", error)
    assert done.state is CaseState.REVERSED
    [event] = await reversal_events(store)
    assert isinstance(event, DecisionReversed)
    assert [(a.staff_id, a.signed_at) for a in event.approvals] == [
        ("dina", START),
        ("dora", START + timedelta(minutes=5)),
    ]
    actions = [e.action for e in done.timeline]
    assert actions[-2:] == ["reversal-requested", "decision-reversed"]


async def test_a_pending_reversal_is_withdrawn(
    setup: tuple[ReviewCases, Clock],
    store: DocumentStore,
) -> None:
    cases, _ = setup
    await cases.submission_received(submission(13))
    await approve(cases, "OA-TEST00000013", 13)
    error = ReversalForm(grounds="error", reason="Wrong account.")
    await cases.reverse(outsider("dina"), "OA-TEST00000013", error)
    withdrawn = await cases.withdraw_reversal(outsider("dora"), "OA-TEST00000013")
    assert withdrawn.pending_reversal is None and withdrawn.state is CaseState.APPROVED
    # The next approval starts a new reversal: still one person, still pending.
    again = await cases.reverse(outsider("dora"), "OA-TEST00000013", error)
    assert again.state is CaseState.APPROVED and again.pending_reversal is not None
    assert await reversal_events(store) == []


async def test_a_reversal_without_an_appeal_closes_nothing(
    setup: tuple[ReviewCases, Clock],
) -> None:
    cases, _ = setup
    await cases.submission_received(submission(11))
    await approve(cases, "OA-TEST00000011", 11)
    before = await cases.read(staff("alice"), "OA-TEST00000011")
    reversed_ = DecisionReversed(
        case_id="OA-TEST00000011",
        decision=before.decision,
        reason="Error.",
        reversed_by="bob",
        reversed_at=START,
        grounds="error",
        approvals=reversal_approvals(POLICY, 4, START),
    )
    await dispatcher(HANDLERS, cases, authority(POLICY).admit)(signed(reversed_))
    assert await cases.read(staff("alice"), "OA-TEST00000011") == before


# --- events from other services -------------------------------------------------------------


async def test_tampering_goes_on_the_timeline_and_restoration_is_ordered_once(
    setup: tuple[ReviewCases, Clock],
    store: DocumentStore,
) -> None:
    cases, _ = setup
    await cases.submission_received(submission(9))
    tampering = TamperingDetected(
        tampering_id="T-1",
        case_id="OA-TEST00000009",
        wiki="sandbox",
        target="User:Subject 9",
        log_id=42,
        log_type="block",
        log_action="unblock",
        performer="Rogue Admin",
        comment="undoing",
        logged_at=START,
        detected_at=START,
    )
    await cases.tampering_detected(tampering)
    await cases.tampering_detected(tampering)
    case = await cases.read(staff("bob"), "OA-TEST00000009")
    assert len(case.tamperings) == 1 and case.timeline[-1].action == "tampering-detected"
    await cases.order_restoration(staff("bob"), case.id, RestorationForm(tampering_id="T-1"))
    again = await refused(
        cases.order_restoration, staff("bob"), case.id, RestorationForm(tampering_id="T-1")
    )
    assert again.code == "already_ordered"
    assert kinds(await published(store))[-1] == "RestorationOrdered"


async def test_correspondence_resumes_a_paused_deadline(
    setup: tuple[ReviewCases, Clock],
) -> None:
    cases, clock = setup
    await cases.submission_received(submission(10))
    due = (await cases.read(staff("alice"), "OA-TEST00000010")).deadline_at
    assert due is not None
    clock.now = START + timedelta(days=1)
    await cases.set_waiting(
        staff("alice"), "OA-TEST00000010", WaitingForm(waiting=True, reason="Asked for diffs.")
    )
    clock.now = START + timedelta(days=4)
    reply = CorrespondenceReceived(
        submission_id="R-TEST00000010",
        channel=Channel.EMAIL,
        sender="reporter@example.org",
        summary="Here are the diffs.",
        received_at=clock.now,
        from_requester=True,
        sender_verified_by="address",
    )
    await cases.correspondence_received(reply, "event-1")
    await cases.correspondence_received(reply, "event-1")
    case = await cases.read(staff("alice"), "OA-TEST00000010")
    assert not case.waiting_for_requester
    assert case.deadline_at == due + timedelta(days=3)  # paused for three days
    assert [e.action for e in case.timeline].count("correspondence") == 1


# --- deadlines across a restart -------------------------------------------------------------


async def test_deadline_events_are_raised_on_time_once_across_a_restart(
    store: DocumentStore,
) -> None:
    clock = Clock()
    cases = review(store, clock)
    await cases.ensure_indexes()
    await cases.submission_received(submission(11, "child-protection", subject=None))
    await cases.submission_received(submission(12, "global-ban"))
    duty = DeadlineDuty(store, cases.relay, clock)
    assert await duty.scan() == 0

    clock.now = START + timedelta(hours=19)  # 24 h deadline: at risk from 18 h
    assert await duty.scan() == 1
    assert await duty.scan() == 0

    # The service stops; it comes back after the deadline passed.
    restarted = await reopen(store)
    try:
        clock.now = START + timedelta(hours=30)
        again = DeadlineDuty(restarted, review(restarted, clock).relay, clock)
        assert await again.scan() == 1
        assert await again.scan() == 0
        events = await published(restarted)
    finally:
        await restarted.close()
    deadline_events = [e for e in events if kinds([e])[0].startswith("Deadline")]
    assert kinds(deadline_events) == ["DeadlineAtRisk", "DeadlineBreached"]
    assert {e.case_id for e in deadline_events} == {"OA-TEST00000011"}  # type: ignore[attr-defined]
    assert deadline_events[1].deadline_at == START + timedelta(hours=24)  # type: ignore[attr-defined]


async def test_a_paused_deadline_raises_nothing(store: DocumentStore) -> None:
    clock = Clock()
    cases = review(store, clock)
    await cases.ensure_indexes()
    await cases.submission_received(submission(13, "child-protection", subject=None))
    await cases.set_waiting(staff("alice"), "OA-TEST00000013", WaitingForm(waiting=True))
    clock.now = START + timedelta(days=3)
    assert await DeadlineDuty(store, cases.relay, clock).scan() == 0

"""What the transparency portal is told: the public-level events (casework.contract.public)
on their own topic, each once.

Each event is written with a delivery record of its own (channel ``portal``, key
``case:public:portal:<what>``) in one store write (``Deliveries.publish``): a redelivered
input finds the record and publishes nothing twice, and an input whose event is missing
(a crash after the log page's edit was recorded) publishes it when it is handled again
(the consumer's redelivery, or reconciliation: Enforcement.settled asks for the record).

Nothing is said of a case whose statement is not on the log page (a confidential action,
or one not yet enforced): an appeal or inquiry about it waits in notify's store, unsaid,
until that statement is published, which may be never.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment

from casework.contract import (
    ActionEnforced,
    Audience,
    CaseOpened,
    EventData,
    InquiryAnswered,
    InquiryAnswerPublished,
    SignOff,
    SubmissionKind,
    SubmissionReceived,
)
from casework.policy import Policy
from services.notify.adapters.collections import CASES, INQUIRIES
from services.notify.adapters.deliveries import PORTAL, idempotency_key
from services.notify.domain import public_events as mapped
from services.notify.domain.views import ReversalView
from services.notify.usecases.sender import Sender


def portal_key(case_id: str, what: str) -> str:
    return idempotency_key(case_id, Audience.PUBLIC, PORTAL, what)


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")


class PublicRecords:
    def __init__(
        self,
        sender: Sender,
        policy: Policy,
        templates: Environment,
        wiki_index_url: str | None = None,
    ) -> None:
        self.sender = sender
        self.store = sender.store
        self.deliveries = sender.deliveries
        self.policy = policy
        self.templates = templates
        self.wiki_index_url = wiki_index_url

    async def _emit(self, key: str, case_id: str, events: list[EventData]) -> None:
        if await self.deliveries.publish(
            key, case_id=case_id, events=events, now=self.sender.clock()
        ):
            self.sender.relay.wake()

    async def published(self, case_id: str) -> bool:
        """The case's statement is on the log page, by our own delivery records."""
        return any(
            d.get("channel") == "wiki-page"
            and d.get("state") == "sent"
            and not str(d["_id"]).endswith(":reversed")
            for d in await self.deliveries.of_case(case_id)
        )

    async def statement_told(self, case_id: str, revision: int) -> bool:
        return await self.deliveries.get(portal_key(case_id, f"r{revision}")) is not None

    async def statement(
        self, enforced: ActionEnforced, signoffs: list[SignOff] | None, reference: str
    ) -> None:
        """StatementPublished for the log page's entry ``reference`` (``Page?oldid=N``);
        then what waited for it (appeals and inquiries about the case)."""
        case_id, revision = enforced.case_id, enforced.decision.revision
        key = portal_key(case_id, f"r{revision}")
        if await self.deliveries.get(key) is None:
            kept = await self.store.get(CASES, case_id) or {}
            facts = mapped.statement_facts(
                enforced,
                requested_at=_when(kept.get("opened_at")),
                deadline_at=_when(kept.get("deadline_at")),
                decided_at=_when(kept.get(f"approved_at_r{revision}")),
            )
            event = mapped.statement_published(
                self.templates,
                mapped.statement_views(enforced, self.policy, signoffs),
                facts,
                mapped.log_entry(reference, self.wiki_index_url),
                self.sender.clock(),
            )
            await self._emit(key, case_id, [event])
        await self.release_about(case_id)

    async def reversal(self, view: ReversalView, reference: str) -> None:
        """ReversalPublished (and an upheld appeal's AppealDecided) for the log entry."""
        entry = mapped.log_entry(reference, self.wiki_index_url)
        events: list[EventData] = [mapped.reversal_published(view, entry, self.sender.clock())]
        upheld = mapped.appeal_upheld(view)
        if upheld is not None:
            events.append(upheld)
        await self._emit(portal_key(view.case_id, "reversed"), view.case_id, events)

    async def submission_received(self, received: SubmissionReceived) -> None:
        """An inquiry's question count and date: kept, then said once its case is known."""
        if received.kind is not SubmissionKind.INQUIRY or not received.questions:
            return
        fields = {
            "questions": len(received.questions),
            "received_at": received.received_at.isoformat(),
        }
        await self.sender.put(INQUIRIES, received.submission_id, fields)
        for case in await self.store.find(CASES, {"submission_id": received.submission_id}):
            await self._opened(case)

    async def case_opened(self, opened: CaseOpened) -> None:
        case = await self.store.get(CASES, opened.case_id)
        if case is not None:
            await self._opened(case)

    async def inquiry_answered(self, answered: InquiryAnswered) -> None:
        """The answers, once (key per answering), only about a published case; kept
        unsaid until then."""
        case = await self.store.get(CASES, answered.case_id) or {"_id": answered.case_id}
        about = answered.about_case_id or case.get("linked_to")
        if about is None:
            return
        opened_at = _when(case.get("opened_at")) or answered.answered_at
        event = mapped.inquiry_answer_published(
            answered,
            about,
            asked_at=await self._asked_at(case) or opened_at,
            deadline_at=_when(case.get("deadline_at")),
        )
        version = f"inquiry-{_stamp(answered.answered_at)}"
        fields = {
            "kind": str(SubmissionKind.INQUIRY),
            "linked_to": about,
            "answered_questions": len(answered.answers),
            "asked_at": event.asked_at.isoformat(),
            f"public_{version}": event.model_dump(mode="json"),
        }
        await self.sender.put(CASES, answered.case_id, fields)
        if await self.published(about):
            await self._opened(await self.store.get(CASES, answered.case_id) or {})

    async def release_about(self, about_case_id: str) -> None:
        """Appeals and inquiries about a case whose statement was just published."""
        for case in await self.store.find(CASES, {"linked_to": about_case_id}, order_by="_id"):
            await self._opened(case)

    async def _asked_at(self, case: dict[str, Any]) -> datetime | None:
        submission = case.get("submission_id")
        inquiry = await self.store.get(INQUIRIES, submission) if submission else None
        return _when(inquiry.get("received_at")) if inquiry else None

    async def _opened(self, case: dict[str, Any]) -> None:
        """What may be said of an appeal or inquiry case about a published case."""
        about, kind = case.get("linked_to"), case.get("kind")
        if about is None or kind not in (SubmissionKind.APPEAL, SubmissionKind.INQUIRY):
            return
        if not await self.published(about):
            return
        case_id, opened_at = case["_id"], _when(case.get("opened_at"))
        if kind == SubmissionKind.APPEAL and opened_at is not None:
            filed = mapped.appeal_filed(case_id, about, opened_at)
            await self._emit(portal_key(case_id, "appeal-filed"), case_id, [filed])
            return
        if kind == SubmissionKind.INQUIRY:
            await self._inquiry(case, about, opened_at)

    async def _inquiry(self, case: dict[str, Any], about: str, opened_at: datetime | None) -> None:
        case_id = case["_id"]
        submission = case.get("submission_id")
        inquiry = await self.store.get(INQUIRIES, submission) if submission else None
        count = (inquiry or {}).get("questions") or case.get("answered_questions")
        asked_at = (
            _when((inquiry or {}).get("received_at")) or opened_at or _when(case.get("asked_at"))
        )
        if count and asked_at is not None:
            received = mapped.inquiry_received(
                case_id,
                about,
                asked_at=asked_at,
                deadline_at=_when(case.get("deadline_at")),
                question_count=count,
            )
            await self._emit(portal_key(case_id, "inquiry-received"), case_id, [received])
        for field, value in sorted(case.items()):
            if field.startswith("public_inquiry-"):
                answer = InquiryAnswerPublished.model_validate(value)
                key = portal_key(case_id, field.removeprefix("public_"))
                await self._emit(key, case_id, [answer])

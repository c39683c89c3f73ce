"""What the requester is told: the acknowledgement, what was missing, the outcome, the
answers to an inquiry; each message after the first in the acknowledgement's thread."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from jinja2 import Environment

from casework.contract import (
    Audience,
    CaseOpened,
    Decision,
    DecisionApproved,
    DecisionDeclined,
    DuplicateMerged,
    InquiryAnswered,
    Requester,
    SignOff,
    SubmissionIncomplete,
    SubmissionReceived,
)
from casework.policy import Policy
from services.notify.adapters.collections import CASES, REQUESTERS
from services.notify.adapters.deliveries import idempotency_key, message_id
from services.notify.domain.render import email
from services.notify.domain.rules import team_address
from services.notify.domain.views import (
    IncompleteView,
    InquiryAnswerView,
    InquiryView,
    MissingFieldView,
    acknowledgement_view,
    requester_outcome_view,
)
from services.notify.usecases.public_records import PublicRecords
from services.notify.usecases.sender import Outgoing, Sender


def ack_thread(reference: str) -> str:
    """The Message-ID of the acknowledgement of ``reference``: what later mail replies to."""
    return message_id(idempotency_key(reference, Audience.REQUESTER, "email", "ack"))


class Requesters:
    def __init__(
        self, sender: Sender, policy: Policy, templates: Environment, public: PublicRecords
    ) -> None:
        self.sender = sender
        self.store = sender.store
        self.policy = policy
        self.templates = templates
        self.public = public

    async def submission_received(self, received: SubmissionReceived) -> None:
        await self.public.submission_received(received)
        requester = received.requester
        if requester is None:
            return  # an anonymous report: nobody to acknowledge
        await self.sender.put(
            REQUESTERS,
            received.submission_id,
            {**requester.model_dump(mode="json"), "action_type": received.action_type},
        )
        view = acknowledgement_view(received, requester, self.policy)
        key = idempotency_key(received.submission_id, Audience.REQUESTER, "email", "ack")
        await self.sender.send(
            Outgoing(
                key,
                received.submission_id,
                Audience.REQUESTER,
                requester.email,
                email(self.templates, "requester_ack", view, requester.language),
            )
        )

    async def submission_incomplete(self, incomplete: SubmissionIncomplete) -> None:
        view = IncompleteView(
            reference=incomplete.reference,
            name=incomplete.requester_name,
            language=incomplete.language,
            missing=[
                MissingFieldView(field=m.field, message=m.message) for m in incomplete.missing
            ],
        )
        version = "incomplete-" + incomplete.received_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")
        key = idempotency_key(incomplete.reference, Audience.REQUESTER, "email", version)
        await self.sender.send(
            Outgoing(
                key,
                incomplete.reference,
                Audience.REQUESTER,
                incomplete.requester_email,
                email(self.templates, "requester_incomplete", view, incomplete.language),
                in_reply_to=incomplete.in_reply_to,
            )
        )

    async def case_opened(self, opened: CaseOpened) -> None:
        """Kept: the submission (the requester's thread), and the public-level facts the
        portal's events carry (when it was opened, its deadline, what it refers to)."""
        await self.sender.put(
            CASES,
            opened.case_id,
            {
                "submission_id": opened.submission_id,
                "kind": str(opened.kind),
                "opened_at": opened.opened_at.isoformat(),
                "deadline_at": opened.deadline_at.isoformat() if opened.deadline_at else None,
                "linked_to": opened.linked_to,
            },
        )
        await self.public.case_opened(opened)

    async def requester_of(
        self, case_id: str, given: Requester | None
    ) -> tuple[Requester, str] | None:
        """The requester and the reference they were given (their acknowledgement's thread)."""
        case = await self.store.get(CASES, case_id)
        submission = case.get("submission_id") if case is not None else None
        reference = submission or case_id
        if given is not None:
            return given, reference
        if submission is None:
            return None
        stored = await self.store.get(REQUESTERS, reference)
        if stored is None:
            return None
        return Requester.model_validate(stored), reference

    async def decision_declined(self, declined: DecisionDeclined) -> None:
        await self.sender.put(CASES, declined.case_id, {"declined": True})
        found = await self.requester_of(declined.case_id, declined.requester)
        if found is not None:
            requester, reference = found
            await self._tell_outcome(declined.case_id, requester, reference, None, None)
        await self._tell_merged(declined.case_id)

    async def decision_approved(self, approved: DecisionApproved) -> None:
        """The requester's outcome of an approved decision (after the functionaries' briefs),
        and that of each requester whose duplicate was merged into the case."""
        found = await self.requester_of(approved.case_id, approved.requester)
        if found is not None:
            requester, reference = found
            decided = (approved.decision, approved.signoffs)
            await self._tell_outcome(approved.case_id, requester, reference, *decided)
        await self._tell_merged(approved.case_id)

    async def duplicate_merged(self, merged: DuplicateMerged) -> None:
        """Remember whose duplicate the case absorbed; tell them now if it is decided."""
        entry = {
            "case_id": merged.duplicate_case_id,
            "submission_id": merged.duplicate_submission_id,
        }
        case = await self.store.get(CASES, merged.case_id) or {}
        known = list(case.get("merged", []))
        if entry not in known:
            await self.sender.put(CASES, merged.case_id, {"merged": [*known, entry]})
        await self._tell_merged(merged.case_id)

    async def merge_known(self, merged: DuplicateMerged) -> bool:
        """For reconciliation: the merge is recorded (and told, if the case is decided)."""
        case = await self.store.get(CASES, merged.case_id) or {}
        return any(e["case_id"] == merged.duplicate_case_id for e in case.get("merged", []))

    async def _tell_merged(self, case_id: str) -> None:
        """Each merged complainant hears the case's outcome under their own reference, with
        their own name and language: nothing of the original requester."""
        case = await self.store.get(CASES, case_id)
        decided = _decided(case) if case is not None else None
        if case is None or decided is None:
            return
        for entry in case.get("merged", []):
            stored = await self.store.get(REQUESTERS, entry["submission_id"])
            if stored is None:
                continue  # no requester on record for that reference: nobody to tell
            requester = Requester.model_validate(stored)
            await self._tell_outcome(entry["case_id"], requester, entry["submission_id"], *decided)

    async def _tell_outcome(
        self,
        case_id: str,
        requester: Requester,
        reference: str,
        decision: Decision | None,
        signoffs: list[SignOff] | None,
    ) -> None:
        """The outcome email, in the thread of ``reference``'s acknowledgement: the decision
        approved, or declined (``decision`` None)."""
        if decision is None:
            stored = await self.store.get(REQUESTERS, reference)
            action = stored.get("action_type") if stored else None
            version = "declined"
        else:
            action = decision.action_type
            version = f"r{decision.revision}"
        view = requester_outcome_view(
            reference=reference,
            name=requester.name,
            language=requester.language,
            outcome="declined" if decision is None else "approved",
            decision=decision,
            signoffs=signoffs,
            action_title=self.policy.text(requester.language, "action_types", action)
            if action
            else "",
            contact=team_address(self.policy, action),
            policy=self.policy,
        )
        await self.sender.send(
            Outgoing(
                idempotency_key(case_id, Audience.REQUESTER, "email", version),
                case_id,
                Audience.REQUESTER,
                requester.email,
                email(self.templates, "requester_outcome", view, requester.language),
                in_reply_to=ack_thread(reference),
            )
        )

    async def inquiry_answered(self, answered: InquiryAnswered) -> None:
        requester = answered.requester
        view = InquiryView(
            case_id=answered.case_id,
            about_case_id=answered.about_case_id,
            name=requester.name,
            language=requester.language,
            answers=[
                InquiryAnswerView(question=a.question, outcome=a.outcome, text=a.text)
                for a in answered.answers
            ],
            contact_address=team_address(self.policy, None),
        )
        version = "inquiry-" + answered.answered_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")
        key = idempotency_key(answered.case_id, Audience.REQUESTER, "email", version)
        case = await self.store.get(CASES, answered.case_id)
        submission = case.get("submission_id") if case is not None else None
        thread = ack_thread(submission) if submission else None
        await self.sender.send(
            Outgoing(
                key,
                answered.case_id,
                Audience.REQUESTER,
                requester.email,
                email(self.templates, "inquiry_answer", view, requester.language),
                in_reply_to=thread,
            )
        )
        await self.public.inquiry_answered(answered)


def _decided(case: dict[str, Any]) -> tuple[Decision | None, list[SignOff] | None] | None:
    """The case's latest approved decision with its sign-offs, (None, None) if declined,
    None while undecided (from what Decisions keeps of each approval)."""
    revisions = [int(k.removeprefix("decision_r")) for k in case if k.startswith("decision_r")]
    if revisions:
        latest = max(revisions)
        return (
            Decision.model_validate(case[f"decision_r{latest}"]),
            [SignOff.model_validate(s) for s in case.get(f"signoffs_r{latest}", [])],
        )
    return (None, None) if case.get("declined") else None

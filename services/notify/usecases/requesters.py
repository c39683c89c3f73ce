"""What the requester is told: the acknowledgement, what was missing, the outcome, the
answers to an inquiry; each message after the first in the acknowledgement's thread."""

from __future__ import annotations

from datetime import UTC

from jinja2 import Environment

from casework.contract import (
    Audience,
    CaseOpened,
    DecisionApproved,
    DecisionDeclined,
    InquiryAnswered,
    Requester,
    SubmissionIncomplete,
    SubmissionReceived,
)
from casework.policy import Policy
from services.notify.adapters.collections import CASES, REQUESTERS
from services.notify.adapters.deliveries import idempotency_key, message_id
from services.notify.domain.render import email
from services.notify.domain.rules import team_address
from services.notify.domain.views import (
    AcknowledgementView,
    IncompleteView,
    InquiryAnswerView,
    InquiryView,
    MissingFieldView,
    requester_outcome_view,
)
from services.notify.usecases.sender import Outgoing, Sender


def ack_thread(reference: str) -> str:
    """The Message-ID of the acknowledgement of ``reference``: what later mail replies to."""
    return message_id(idempotency_key(reference, Audience.REQUESTER, "email", "ack"))


class Requesters:
    def __init__(self, sender: Sender, policy: Policy, templates: Environment) -> None:
        self.sender = sender
        self.store = sender.store
        self.policy = policy
        self.templates = templates

    async def submission_received(self, received: SubmissionReceived) -> None:
        requester = received.requester
        if requester is None:
            return  # an anonymous report: nobody to acknowledge
        await self.sender.put(
            REQUESTERS,
            received.submission_id,
            {**requester.model_dump(mode="json"), "action_type": received.action_type},
        )
        contact = self.policy.teams[received.routed_to].address
        action = received.action_type
        view = AcknowledgementView(
            reference=received.submission_id,
            name=requester.name,
            language=requester.language,
            kind=str(received.kind),
            action_title=self.policy.action(action).title if action else "",
            contact_address=contact,
        )
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
        await self.sender.put(CASES, opened.case_id, {"submission_id": opened.submission_id})

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
        found = await self.requester_of(declined.case_id, declined.requester)
        if found is None:
            return
        requester, reference = found
        stored = await self.store.get(REQUESTERS, reference)
        action = stored.get("action_type") if stored else None
        view = requester_outcome_view(
            reference=reference,
            name=requester.name,
            language=requester.language,
            outcome="declined",
            decision=None,
            signoffs=None,
            action_title=self.policy.action(action).title if action else "",
            contact=team_address(self.policy, action),
            policy=self.policy,
        )
        key = idempotency_key(declined.case_id, Audience.REQUESTER, "email", "declined")
        await self.sender.send(
            Outgoing(
                key,
                declined.case_id,
                Audience.REQUESTER,
                requester.email,
                email(self.templates, "requester_outcome", view, requester.language),
                in_reply_to=ack_thread(reference),
            )
        )

    async def decision_approved(self, approved: DecisionApproved) -> None:
        """The requester's outcome of an approved decision (after the functionaries' briefs)."""
        found = await self.requester_of(approved.case_id, approved.requester)
        if found is None:
            return
        requester, reference = found
        decision = approved.decision
        view = requester_outcome_view(
            reference=reference,
            name=requester.name,
            language=requester.language,
            outcome="approved",
            decision=decision,
            signoffs=approved.signoffs,
            action_title=self.policy.action(decision.action_type).title,
            contact=team_address(self.policy, decision.action_type),
            policy=self.policy,
        )
        key = idempotency_key(
            approved.case_id, Audience.REQUESTER, "email", f"r{decision.revision}"
        )
        await self.sender.send(
            Outgoing(
                key,
                approved.case_id,
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

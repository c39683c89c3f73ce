"""Deciding: the draft decision, counsel's determination, the sign-offs, reversals,
answered inquiries and ordered restorations."""

from __future__ import annotations

import logging

from casework.contract.decision import SignerAuthentication
from casework.faults import crash_point
from casework.store import StoreError
from services.review.domain import casefile, inquiries, retry
from services.review.domain.case import Case, CaseState
from services.review.domain.deadlines import calendar_for
from services.review.domain.decision import (
    DecisionForm,
    DeterminationForm,
    draft_decision,
    record_determination,
)
from services.review.domain.outcome import silent_audiences
from services.review.domain.permissions import Action
from services.review.domain.reversal import ReversalForm, reverse_decision, withdraw_reversal
from services.review.domain.signoff import SignOffForm, sign_off
from services.review.domain.staff import StaffMember
from services.review.usecases.base import CaseFiles

log = logging.getLogger(__name__)


class Deciding(CaseFiles):
    """The decision and what follows it, staff side."""

    async def draft_decision(self, staff: StaffMember, case_id: str, form: DecisionForm) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.DRAFT_DECISION,
            case_id,
            lambda c: (draft_decision(c, form, staff, self.policy, now), []),
        )

    async def record_determination(
        self, staff: StaffMember, case_id: str, form: DeterminationForm
    ) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.RECORD_DETERMINATION,
            case_id,
            lambda c: (record_determination(c, form, staff, self.policy, now), []),
        )

    async def sign_off(
        self,
        staff: StaffMember,
        case_id: str,
        form: SignOffForm,
        authentication: SignerAuthentication | None = None,
    ) -> Case:
        """Sign a level; ``authentication`` is how the signer signed in (kept on the
        sign-off, and checked against the policy's step-up rules when review enforces them)."""
        now = self.clock()
        return await self._change(
            staff,
            Action.SIGN_OFF,
            case_id,
            lambda c: sign_off(
                c, form, staff, self.policy, now, authentication, step_up=self.step_up
            ),
        )

    async def reverse(self, staff: StaffMember, case_id: str, form: ReversalForm) -> Case:
        appeal = None
        if form.appeal_case_id is not None:
            appeal = await self._load(form.appeal_case_id, field="appeal_case_id")
            self._check_access(staff, Action.REVERSE_DECISION, appeal)
        now = self.clock()
        # One approval per call: while the policy needs more people the reversal is only
        # recorded as pending. The last approval's one write decides: the original
        # reversed with DecisionReversed in its outbox. The appeal is closed from that
        # event (review consumes its own topic), so a crash or a failed write after this
        # point still closes it; closing it here too only makes the answer current for
        # the caller, and is idempotent.
        reversed_case = await self._change(
            staff,
            Action.REVERSE_DECISION,
            case_id,
            lambda c: reverse_decision(c, form, staff, self.policy, now, appeal),
        )
        if reversed_case.state is not CaseState.REVERSED:
            return reversed_case  # pending: more approvals needed
        crash_point("review.reversal.before-appeal-closed")
        if appeal is not None:
            try:
                await self._close_appeal(appeal.id, case_id, staff.id, now)
            except StoreError:
                log.warning("closing appeal %s left to its DecisionReversed event", appeal.id)
        return reversed_case

    async def withdraw_reversal(self, staff: StaffMember, case_id: str) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.REVERSE_DECISION,
            case_id,
            lambda c: (withdraw_reversal(c, staff, self.policy, now), []),
        )

    async def answer_inquiry(
        self, staff: StaffMember, case_id: str, form: inquiries.InquiryForm
    ) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.ANSWER_INQUIRY,
            case_id,
            lambda c: inquiries.answer_inquiry(
                c, form, staff, now, calendar=calendar_for(c, self.policy)
            ),
        )

    async def order_restoration(
        self, staff: StaffMember, case_id: str, form: casefile.RestorationForm
    ) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.ORDER_RESTORATION,
            case_id,
            lambda c: casefile.order_restoration(c, form, staff, now),
        )

    async def order_retry(self, staff: StaffMember, case_id: str, form: retry.RetryForm) -> Case:
        """Allowed to whoever may order a restoration: both put a case's effect back."""
        now = self.clock()
        return await self._change(
            staff,
            Action.ORDER_RESTORATION,
            case_id,
            lambda c: retry.order_retry(
                c, form, staff, now, silent_audiences(c.decision, self.policy.notify)
            ),
        )

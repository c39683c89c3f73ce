"""Working on a case: opening one by hand, assigning, notes, evidence, links, merging a
duplicate, and waiting on the requester."""

from __future__ import annotations

import secrets

from casework.errors import Kind, Rejected
from services.review.adapters.stored import to_document
from services.review.auth.policy import authorize
from services.review.domain import casefile
from services.review.domain.case import Case
from services.review.domain.deadlines import calendar_for, set_waiting
from services.review.domain.opening import (
    MergeForm,
    StaffCaseForm,
    close_as_duplicate,
    merge_duplicate,
    open_staff_case,
    told_of_merge,
)
from services.review.domain.permissions import Action
from services.review.domain.staff import StaffMember
from services.review.usecases.base import CASES, CaseFiles, signed_outbox


class Working(CaseFiles):
    """What staff do to a case before and around its decision."""

    async def open_by_staff(self, staff: StaffMember, form: StaffCaseForm) -> Case:
        authorize(staff, Action.OPEN_CASE, None, self.policy.access)
        case_id = "OA-S" + secrets.token_hex(6).upper()
        case, opened = open_staff_case(case_id, form, staff, self.policy, self.clock())
        await self.store.insert(
            CASES, to_document(case), outbox=signed_outbox([opened], self.signer)
        )
        self.relay.wake()
        return case

    # -- working on a case -------------------------------------------------------------

    async def assign(self, staff: StaffMember, case_id: str, form: casefile.AssignForm) -> Case:
        assignee = None
        if form.assignee is not None:
            assignee = self.staff_by_id(form.assignee)
            if assignee is None:
                raise Rejected.one(
                    Kind.INVALID,
                    "validation_failed",
                    "assignee",
                    "known_staff",
                    f"no staff member {form.assignee!r}",
                )
        now = self.clock()
        return await self._change(
            staff,
            Action.ASSIGN_CASE,
            case_id,
            lambda c: (casefile.assign(c, assignee, staff, now), []),
        )

    async def add_note(self, staff: StaffMember, case_id: str, form: casefile.NoteForm) -> Case:
        now = self.clock()
        return await self._change(
            staff, Action.ADD_NOTE, case_id, lambda c: (casefile.add_note(c, form, staff, now), [])
        )

    async def add_evidence(
        self, staff: StaffMember, case_id: str, form: casefile.EvidenceForm
    ) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.ADD_EVIDENCE,
            case_id,
            lambda c: (casefile.add_evidence(c, form, staff, now), []),
        )

    async def link(self, staff: StaffMember, case_id: str, form: casefile.LinkForm) -> Case:
        other = await self._load(form.case_id, field="case_id")
        self._check_access(staff, Action.LINK_CASES, other)
        now = self.clock()
        return await self._change(
            staff, Action.LINK_CASES, case_id, lambda c: (casefile.link(c, form, staff, now), [])
        )

    async def merge(self, staff: StaffMember, case_id: str, form: MergeForm) -> Case:
        """Close a duplicate and fold its evidence into the case it duplicates."""
        original = await self._load(form.into, field="into")
        self._check_access(staff, Action.MERGE_DUPLICATE, original)
        now = self.clock()
        merged = await self._change(
            staff,
            Action.MERGE_DUPLICATE,
            case_id,
            lambda c: (close_as_duplicate(c, form.into, staff.id, now), []),
        )
        await self._change(
            staff,
            Action.MERGE_DUPLICATE,
            form.into,
            lambda c: (
                merge_duplicate(c, merged, staff.id, now),
                told_of_merge(c, merged, staff.id, now),
            ),
        )
        return merged

    async def set_waiting(
        self, staff: StaffMember, case_id: str, form: casefile.WaitingForm
    ) -> Case:
        now = self.clock()
        return await self._change(
            staff,
            Action.SET_WAITING,
            case_id,
            lambda c: (
                set_waiting(
                    c,
                    form.waiting,
                    staff.id,
                    now,
                    form.reason,
                    calendar=calendar_for(c, self.policy),
                ),
                [],
            ),
        )

"""Reading cases: the queue, one case, and the case as a staff member may see it."""

from __future__ import annotations

from services.review.adapters.stored import from_document
from services.review.auth.policy import authorize
from services.review.domain.case import Case, CaseView
from services.review.domain.decision import LEGAL_LEVEL
from services.review.domain.permissions import Action
from services.review.domain.queue import ORDER, CaseSummary, QueuePage, QueueQuery, cursor_for
from services.review.domain.staff import StaffMember
from services.review.usecases.base import CASES, CaseFiles


class Reads(CaseFiles):
    """The queue and the case file as staff see them."""

    async def queue(self, staff: StaffMember, query: QueueQuery) -> QueuePage:
        authorize(staff, Action.READ_QUEUE, None, self.policy.access)
        order_field, descending = ORDER[query.sort]
        docs = await self.store.find(
            CASES,
            query.where(self.policy),
            order_by=order_field,
            descending=descending,
            limit=query.limit + 1,
            after=query.after(),
        )
        more = len(docs) > query.limit
        docs = docs[: query.limit]
        cutoff = query.cutoff()
        rows: list[CaseSummary] = []
        for doc in docs:
            if cutoff is not None and doc["urgency"] >= cutoff:
                if query.sort == "urgency":
                    more = False  # ordered by due time: nothing later can qualify
                    break
                continue
            case = from_document(doc)
            if case.is_barred(staff) is None:
                rows.append(CaseSummary.of(case))
        next_cursor = cursor_for(docs[-1], order_field) if more and docs else None
        return QueuePage(cases=rows, next_cursor=next_cursor)

    async def read(self, staff: StaffMember, case_id: str) -> Case:
        case = await self._load(case_id)
        self._check_access(staff, Action.READ_CASE, case)
        return case

    def view(self, staff: StaffMember, case: Case) -> CaseView:
        """The case as this staff member may see it: legal-privileged text only for counsel."""
        decision = case.decision
        determination = decision.determination if decision else None
        shown = determination is None or LEGAL_LEVEL in staff.levels
        if decision is not None and determination is not None and not shown:
            withheld = f"(withheld by counsel: {determination.grounds})"
            disclosed = determination.model_copy(
                update={"text": determination.disclosed_text() or withheld, "redacted_text": None}
            )
            decision = decision.model_copy(update={"determination": disclosed})
        return CaseView.model_validate(
            {
                **dict(case),
                "decision": decision,
                "next_level": case.next_level(self.policy) if case.decision else None,
                "outstanding_levels": case.outstanding_levels() if case.decision else [],
                "determination_in_full": shown,
                "reversal_approvals_missing": (
                    case.pending_reversal.missing if case.pending_reversal else 0
                ),
                "warnings": self._warnings(case),
            }
        )

    def _warnings(self, case: Case) -> list[str]:
        if case.decision is None or case.decision.evidence:
            return []
        action = self.policy.action_types.get(case.decision.action_type)
        required = action is not None and action.evidence_required
        return ["no-evidence-cited", *(["evidence-required"] if required else [])]

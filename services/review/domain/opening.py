"""Opening cases: from every kind of submission, and by staff on their own initiative. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from casework.contract import (
    CaseOpened,
    DuplicateMerged,
    EventData,
    Language,
    SubmissionKind,
    SubmissionReceived,
)
from casework.errors import Kind, Rejected
from casework.policy import Policy
from casework.text import NO_CONTROL, ONE_LINE
from services.review.domain.case import (
    Barred,
    Case,
    CaseLink,
    CaseState,
    EvidenceRecord,
    LinkKind,
)
from services.review.domain.deadlines import start_deadline
from services.review.domain.staff import StaffMember

LINK_OF_KIND = {
    SubmissionKind.APPEAL: LinkKind.APPEAL_OF,
    SubmissionKind.BREACH_REPORT: LinkKind.BREACH_OF,
    SubmissionKind.ABUSE_REPORT: LinkKind.ABUSE_REPORT_ABOUT,
    SubmissionKind.INQUIRY: LinkKind.INQUIRY_ABOUT,
}


def case_id_for(submission_id: str) -> str:
    """One case per submission, derived so a redelivered submission finds its case."""
    return "OA-" + submission_id.removeprefix("R-")


def open_case(
    submission: SubmissionReceived,
    policy: Policy,
    now: datetime,
    original: Case | None = None,
) -> tuple[Case, CaseOpened]:
    """``original`` is the case ``refers_to`` names, when review holds it."""
    links = _links_of(submission)
    barred = _barred_from(submission, original)
    action_type = submission.action_type
    if action_type is None and original is not None:
        action_type = original.action_type
    if action_type is not None and action_type not in policy.action_types:
        action_type = None
    evidence = [
        EvidenceRecord(
            id=f"E{i + 1}",
            description=item.description,
            url=item.url,
            where=item.where,
            added_by="submission",
            added_at=now,
        )
        for i, item in enumerate(submission.evidence)
    ]
    case = Case(
        id=case_id_for(submission.submission_id),
        submission_id=submission.submission_id,
        kind=submission.kind,
        state=CaseState.OPEN,
        action_type=action_type,
        routed_to=submission.routed_to,
        opened_at=now,
        summary=submission.summary,
        subject_account=submission.subject.account if submission.subject else None,
        urgent=submission.urgent,
        language=submission.requester.language if submission.requester else "en",
        submission=submission,
        evidence=evidence,
        links=links,
        barred=barred,
        questions=submission.questions,
    )
    deadline = start_deadline(case, policy, submission.received_at)
    case = case.model_copy(update={"deadline": deadline}).with_entry(
        now,
        "system",
        "case-opened",
        f"{submission.kind} from submission {submission.submission_id} ({submission.channel})",
    )
    if submission.duplicate_of:
        # Intake's match is a hint: staff decide whether to merge.
        case = case.with_entry(
            now, "system", "possible-duplicate", f"of {case_id_for(submission.duplicate_of)}"
        )
    return case, _opened_event(case, links)


def _links_of(submission: SubmissionReceived) -> list[CaseLink]:
    """The cases a submission names: the one it refers to, and intake's duplicate hint."""
    links: list[CaseLink] = []
    link_kind = LINK_OF_KIND.get(submission.kind)
    if link_kind is not None and submission.refers_to:
        links.append(CaseLink(kind=link_kind, case_id=submission.refers_to))
    if submission.duplicate_of:
        links.append(
            CaseLink(kind=LinkKind.DUPLICATE_OF, case_id=case_id_for(submission.duplicate_of))
        )
    return links


def _barred_from(submission: SubmissionReceived, original: Case | None) -> list[Barred]:
    """Who may not work on the case: staff named in it, and for an appeal the original's
    signers."""
    barred = [Barred(who=s, reason="named-in-report") for s in submission.named_staff]
    if submission.kind is SubmissionKind.APPEAL and original is not None:
        # Appeals are decided by someone who did not sign the original.
        barred += [
            Barred(who=s.staff_id, reason="signed-original")
            for s in original.signoffs
            if s.verdict == "approve"
        ]
    return barred


def _opened_event(case: Case, links: list[CaseLink]) -> CaseOpened:
    return CaseOpened(
        case_id=case.id,
        submission_id=case.submission_id or case.id,
        action_type=case.action_type,
        routed_to=case.routed_to,
        opened_at=case.opened_at,
        deadline_at=case.deadline_at,
        kind=case.kind,
        urgent=case.urgent,
        linked_to=links[0].case_id if links else None,
    )


def merge_duplicate(original: Case, duplicate: Case, actor: str, now: datetime) -> Case:
    """Fold a duplicate's evidence into the case it duplicates. Idempotent."""
    if any(x.kind is LinkKind.MERGED_FROM and x.case_id == duplicate.id for x in original.links):
        return original
    offset = len(original.evidence)
    moved = [
        e.model_copy(update={"id": f"E{offset + i + 1}", "added_by": f"merged:{duplicate.id}"})
        for i, e in enumerate(duplicate.evidence)
    ]
    merged = original.model_copy(
        update={
            "evidence": [*original.evidence, *moved],
            "links": [*original.links, CaseLink(kind=LinkKind.MERGED_FROM, case_id=duplicate.id)],
            "barred": [*original.barred, *duplicate.barred],
        }
    )
    return merged.with_entry(now, actor, "duplicate-merged", f"from {duplicate.id}")


def told_of_merge(original: Case, duplicate: Case, actor: str, now: datetime) -> list[EventData]:
    """A duplicate with a requester, newly merged: they hear the original's outcome."""
    if duplicate.submission_id is None or any(
        x.kind is LinkKind.MERGED_FROM and x.case_id == duplicate.id for x in original.links
    ):
        return []
    return [
        DuplicateMerged(
            case_id=original.id,
            duplicate_case_id=duplicate.id,
            duplicate_submission_id=duplicate.submission_id,
            merged_by=actor,
            merged_at=now,
        )
    ]


def close_as_duplicate(duplicate: Case, original_id: str, actor: str, now: datetime) -> Case:
    duplicate.check_open()
    if duplicate.id == original_id:
        raise Rejected.one(
            Kind.INVALID,
            "validation_failed",
            "into",
            "other_case",
            "a case cannot merge into itself",
        )
    link = CaseLink(kind=LinkKind.DUPLICATE_OF, case_id=original_id)
    links = duplicate.links if link in duplicate.links else [*duplicate.links, link]
    merged = duplicate.model_copy(update={"state": CaseState.MERGED, "links": links})
    return merged.with_entry(now, actor, "merged", f"into {original_id}")


class MergeForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: str = Field(description="The case this one duplicates.")


class StaffCaseForm(BaseModel):
    """A case staff open on their own initiative."""

    model_config = ConfigDict(extra="forbid")

    kind: SubmissionKind = SubmissionKind.REQUEST
    action_type: str | None = None
    summary: Annotated[str, Field(min_length=1, max_length=20_000), NO_CONTROL]
    subject_account: Annotated[str, Field(min_length=1, max_length=255), ONE_LINE] | None = None
    language: Language = "en"
    urgent: StrictBool = False
    refers_to: str | None = None


def open_staff_case(
    case_id: str, form: StaffCaseForm, staff: StaffMember, policy: Policy, now: datetime
) -> tuple[Case, CaseOpened]:
    if form.action_type is not None and form.action_type not in policy.action_types:
        raise Rejected.one(
            Kind.INVALID,
            "validation_failed",
            "action_type",
            "one_of",
            f"one of: {', '.join(sorted(policy.action_types))}",
        )
    routed_to = (
        policy.action(form.action_type).routed_to if form.action_type else next(iter(policy.teams))
    )
    links = []
    link_kind = LINK_OF_KIND.get(form.kind)
    if form.refers_to:
        links.append(CaseLink(kind=link_kind or LinkKind.RELATED, case_id=form.refers_to))
    case = Case(
        id=case_id,
        submission_id=None,
        kind=form.kind,
        state=CaseState.OPEN,
        action_type=form.action_type,
        routed_to=routed_to,
        opened_at=now,
        opened_by=staff.id,
        summary=form.summary,
        subject_account=form.subject_account,
        urgent=form.urgent,
        language=form.language,
        links=links,
    )
    case = case.model_copy(update={"deadline": start_deadline(case, policy, now)})
    case = case.with_entry(now, staff.id, "case-opened", "on staff initiative")
    return case, _opened_event(case, links)

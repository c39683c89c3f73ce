"""The case file as the store keeps it: review's own, versioned document.

The domain works with Case, which holds contract models (the submission, the decision,
sign-offs). What is written is StoredCase, whose contract parts are review's own models
mapped field by field (stored_submission.py, casework/stored_decision.py), so a new version of the
contract changes the mapping and never the case files already stored. Review's own parts
(notes, evidence, deadline, outcome, ...) are stored as they are. `schema` is the document's
version: case files written before it existed have the same shape and read as version 1.
Its JSON Schema is frozen in `schemas/stored-case-v1.json`; a change that old documents or
old readers would not survive is a `schema: 2` model next to this one.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from casework.contract import SignOff, SubmissionKind
from casework.contract.decision import SignerAuthentication
from casework.stored_decision import (
    Stored,
    StoredDecision,
    contract_decision,
    stored_decision,
)
from services.review.adapters.stored_submission import (
    StoredSubmission,
    contract_submission,
    stored_submission,
)
from services.review.domain.case import (
    FINAL_STATES,
    Barred,
    Case,
    CaseLink,
    CaseState,
    Deadline,
    EvidenceRecord,
    InquiryResponse,
    Note,
    PendingReversal,
    Tampering,
    TimelineEntry,
    alert_at,
    sort_key,
)
from services.review.domain.outcome import Outcome

SCHEMA_VERSION = 1


class StoredSignerAuthentication(Stored):
    method: str
    acr: str | None = None
    amr: list[str] = Field(default_factory=list)
    auth_time: AwareDatetime | None = None


class StoredSignOff(Stored):
    level: str
    staff_id: str
    verdict: str
    comment: str
    languages: list[str]
    signed_at: AwareDatetime
    # How the signer signed in (issue 20); absent on sign-offs stored before.
    authentication: StoredSignerAuthentication | None = None


class StoredPendingReversal(Stored):
    grounds: str
    reason: str
    appeal_case_id: str | None = None
    requested_by: str
    requested_at: AwareDatetime
    approvals: list[StoredSignOff]
    levels_held: dict[str, list[str]] = Field(default_factory=dict)
    needed: int


class StoredCase(Stored):
    """One case file, as stored in the `cases` collection (`_id` the case id)."""

    version: Literal[1] = Field(default=1, alias="schema")
    id: str
    submission_id: str | None
    kind: str = "request"
    state: str
    action_type: str | None
    routed_to: str
    opened_at: AwareDatetime
    opened_by: str = "system"
    summary: str = ""
    subject_account: str | None = None
    urgent: bool = False
    language: str = "en"
    submission: StoredSubmission | None = None
    assignee: str | None = None
    notes: list[Note] = Field(default_factory=list)
    evidence: list[EvidenceRecord] = Field(default_factory=list)
    links: list[CaseLink] = Field(default_factory=list)
    barred: list[Barred] = Field(default_factory=list)
    decision: StoredDecision | None = None
    decision_revision: int = 0
    statement_of_facts: str = ""
    signoffs: list[StoredSignOff] = Field(default_factory=list)
    past_signoffs: list[StoredSignOff] = Field(default_factory=list)
    chain: list[str] = Field(default_factory=list)
    published: bool = False
    pending_reversal: StoredPendingReversal | None = None
    deadline: Deadline | None = None
    waiting_for_requester: bool = False
    questions: list[str] = Field(default_factory=list)
    inquiry_answers: list[InquiryResponse] = Field(default_factory=list)
    answers_held_back: bool = False
    held_back_grounds: str | None = None
    tamperings: list[Tampering] = Field(default_factory=list)
    outcome: Outcome = Field(default_factory=Outcome)
    seen_messages: list[str] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # Derived, flat and indexed for the queue and the deadline duty; never read back.
    urgency: str = ""
    alert_at: str = ""
    closed: bool = False


def to_document(case: Case) -> dict[str, Any]:
    """The document to write for a case: the stored model, its `_id` and its index fields."""
    stored = StoredCase(
        schema=SCHEMA_VERSION,
        id=case.id,
        submission_id=case.submission_id,
        kind=case.kind.value,
        state=case.state.value,
        action_type=case.action_type,
        routed_to=case.routed_to,
        opened_at=case.opened_at,
        opened_by=case.opened_by,
        summary=case.summary,
        subject_account=case.subject_account,
        urgent=case.urgent,
        language=case.language,
        submission=stored_submission(case.submission) if case.submission else None,
        assignee=case.assignee,
        notes=list(case.notes),
        evidence=list(case.evidence),
        links=list(case.links),
        barred=list(case.barred),
        decision=stored_decision(case.decision) if case.decision else None,
        decision_revision=case.decision_revision,
        statement_of_facts=case.statement_of_facts,
        signoffs=[_stored_signoff(s) for s in case.signoffs],
        past_signoffs=[_stored_signoff(s) for s in case.past_signoffs],
        chain=list(case.chain),
        published=case.published,
        pending_reversal=_stored_reversal(case.pending_reversal),
        deadline=case.deadline,
        waiting_for_requester=case.waiting_for_requester,
        questions=list(case.questions),
        inquiry_answers=list(case.inquiry_answers),
        answers_held_back=case.answers_held_back,
        held_back_grounds=case.held_back_grounds,
        tamperings=list(case.tamperings),
        outcome=case.outcome,
        seen_messages=list(case.seen_messages),
        timeline=list(case.timeline),
        urgency=sort_key(case.deadline.due_at if case.deadline else None),
        alert_at=sort_key(alert_at(case)),
        closed=case.state in FINAL_STATES,
    )
    return {"_id": case.id, **stored.model_dump(mode="json", by_alias=True)}


def from_document(doc: dict[str, Any]) -> Case:
    """The case a stored document holds (the store's own `_` fields are ignored)."""
    s = StoredCase.model_validate({k: v for k, v in doc.items() if not k.startswith("_")})
    return Case(
        id=s.id,
        submission_id=s.submission_id,
        kind=SubmissionKind(s.kind),
        state=CaseState(s.state),
        action_type=s.action_type,
        routed_to=s.routed_to,
        opened_at=s.opened_at,
        opened_by=s.opened_by,
        summary=s.summary,
        subject_account=s.subject_account,
        urgent=s.urgent,
        language=s.language,
        submission=contract_submission(s.submission) if s.submission else None,
        assignee=s.assignee,
        notes=list(s.notes),
        evidence=list(s.evidence),
        links=list(s.links),
        barred=list(s.barred),
        decision=contract_decision(s.decision) if s.decision else None,
        decision_revision=s.decision_revision,
        statement_of_facts=s.statement_of_facts,
        signoffs=[_signoff(x) for x in s.signoffs],
        past_signoffs=[_signoff(x) for x in s.past_signoffs],
        chain=list(s.chain),
        published=s.published,
        pending_reversal=_reversal(s.pending_reversal),
        deadline=s.deadline,
        waiting_for_requester=s.waiting_for_requester,
        questions=list(s.questions),
        inquiry_answers=list(s.inquiry_answers),
        answers_held_back=s.answers_held_back,
        held_back_grounds=s.held_back_grounds,
        tamperings=list(s.tamperings),
        outcome=s.outcome,
        seen_messages=list(s.seen_messages),
        timeline=list(s.timeline),
    )


def stored_schema() -> dict[str, Any]:
    """The JSON Schema of the stored document, as frozen under `schemas/`."""
    return StoredCase.model_json_schema(mode="validation", by_alias=True)


def _stored_signoff(s: SignOff) -> StoredSignOff:
    return StoredSignOff(
        level=s.level,
        staff_id=s.staff_id,
        verdict=s.verdict,
        comment=s.comment,
        languages=list(s.languages),
        signed_at=s.signed_at,
        authentication=None
        if s.authentication is None
        else StoredSignerAuthentication(
            method=s.authentication.method,
            acr=s.authentication.acr,
            amr=list(s.authentication.amr),
            auth_time=s.authentication.auth_time,
        ),
    )


def _signoff(s: StoredSignOff) -> SignOff:
    return SignOff(
        level=s.level,
        staff_id=s.staff_id,
        verdict=s.verdict,
        comment=s.comment,
        languages=list(s.languages),
        signed_at=s.signed_at,
        authentication=None
        if s.authentication is None
        else SignerAuthentication(
            method=s.authentication.method,
            acr=s.authentication.acr,
            amr=list(s.authentication.amr),
            auth_time=s.authentication.auth_time,
        ),
    )


def _stored_reversal(p: PendingReversal | None) -> StoredPendingReversal | None:
    if p is None:
        return None
    return StoredPendingReversal(
        grounds=p.grounds,
        reason=p.reason,
        appeal_case_id=p.appeal_case_id,
        requested_by=p.requested_by,
        requested_at=p.requested_at,
        approvals=[_stored_signoff(s) for s in p.approvals],
        levels_held={k: list(v) for k, v in p.levels_held.items()},
        needed=p.needed,
    )


def _reversal(p: StoredPendingReversal | None) -> PendingReversal | None:
    if p is None:
        return None
    return PendingReversal(
        grounds=p.grounds,
        reason=p.reason,
        appeal_case_id=p.appeal_case_id,
        requested_by=p.requested_by,
        requested_at=p.requested_at,
        approvals=[_signoff(s) for s in p.approvals],
        levels_held={k: list(v) for k, v in p.levels_held.items()},
        needed=p.needed,
    )

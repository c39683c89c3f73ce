"""Working on the case file: assignment, notes, evidence, links, correspondence and
tampering on the timeline. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from casework.contract import (
    Audience,
    CorrespondenceReceived,
    EventData,
    EvidenceLocation,
    RestorationOrdered,
    TamperingDetected,
    Url,
)
from casework.errors import Kind, Rejected
from casework.policy.notify import NotifyRules
from casework.text import NO_CONTROL
from services.review.domain import outcome
from services.review.domain.case import (
    FINAL_STATES,
    Case,
    CaseLink,
    EvidenceRecord,
    LinkKind,
    Note,
    Tampering,
)
from services.review.domain.deadlines import Calendar, set_waiting
from services.review.domain.staff import StaffMember


class AssignForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str | None = Field(description="A staff id; null unassigns.")


class NoteForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=20_000), NO_CONTROL]


class EvidenceForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Annotated[str, Field(min_length=1, max_length=2000), NO_CONTROL]
    url: Url | None = None
    where: EvidenceLocation
    audiences: list[Audience] = []


class LinkForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: LinkKind
    case_id: str


class WaitingForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waiting: StrictBool
    reason: Annotated[str, Field(max_length=2000), NO_CONTROL] = ""


class RestorationForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tampering_id: str


def assign(case: Case, assignee: StaffMember | None, staff: StaffMember, now: datetime) -> Case:
    case.check_open()
    if assignee is not None and case.is_barred(assignee) is not None:
        raise Rejected.one(
            Kind.FORBIDDEN,
            "separation_of_duties",
            "assignee",
            "not_barred",
            f"{assignee.id} may not work on this case",
        )
    who = assignee.id if assignee else None
    updated = case.model_copy(update={"assignee": who})
    return updated.with_entry(now, staff.id, "assigned", who or "unassigned")


def add_note(case: Case, form: NoteForm, staff: StaffMember, now: datetime) -> Case:
    note = Note(id=f"N{len(case.notes) + 1}", author=staff.id, text=form.text, at=now)
    updated = case.model_copy(update={"notes": [*case.notes, note]})
    return updated.with_entry(now, staff.id, "note-added", note.id)


def add_evidence(case: Case, form: EvidenceForm, staff: StaffMember, now: datetime) -> Case:
    item = EvidenceRecord(
        id=f"E{len(case.evidence) + 1}",
        description=form.description,
        url=form.url,
        where=form.where,
        audiences=form.audiences,
        added_by=staff.id,
        added_at=now,
    )
    updated = case.model_copy(update={"evidence": [*case.evidence, item]})
    return updated.with_entry(now, staff.id, "evidence-added", f"{item.id} ({item.where})")


def link(case: Case, form: LinkForm, staff: StaffMember, now: datetime) -> Case:
    if form.case_id == case.id:
        raise Rejected.one(
            Kind.INVALID, "validation_failed", "case_id", "other_case", "a case cannot link itself"
        )
    new = CaseLink(kind=form.kind, case_id=form.case_id)
    if new in case.links:
        return case
    updated = case.model_copy(update={"links": [*case.links, new]})
    return updated.with_entry(now, staff.id, "linked", f"{form.kind} {form.case_id}")


def record_correspondence(
    case: Case,
    message: CorrespondenceReceived,
    event_id: str,
    now: datetime,
    calendar: Calendar,
) -> Case:
    """A later message from outside: on the timeline. Only the requester's (as intake
    verified it) ends a wait for the requester; a third party's is shown as such."""
    if event_id in case.seen_messages:
        return case
    updated = case.model_copy(update={"seen_messages": [*case.seen_messages, event_id]})
    if not message.from_requester:
        return updated.with_entry(
            message.received_at,
            message.sender,
            "third-party-correspondence",
            message.summary[:2000],
        )
    updated = updated.with_entry(
        message.received_at, message.sender, "correspondence", message.summary[:2000]
    )
    if updated.waiting_for_requester and updated.state not in FINAL_STATES:
        updated = set_waiting(
            updated, False, "system", now, "the requester wrote", calendar=calendar
        )
    return updated


def record_tampering(case: Case, event: TamperingDetected) -> Case:
    if any(t.tampering_id == event.tampering_id for t in case.tamperings):
        return case
    tampering = Tampering(
        tampering_id=event.tampering_id,
        wiki=event.wiki,
        target=event.target,
        performer=event.performer,
        log_action=f"{event.log_type}/{event.log_action}",
        logged_at=event.logged_at,
    )
    updated = case.model_copy(update={"tamperings": [*case.tamperings, tampering]})
    return updated.with_entry(
        event.detected_at,
        "system",
        "tampering-detected",
        f"{event.performer} {event.log_type}/{event.log_action} on {event.wiki}: {event.target}",
    )


def record_outcome(case: Case, data: outcome.OutcomeEvent, rules: NotifyRules) -> Case:
    """Enforcement's or notify's report folded into the case's outcome; what staff must
    see of it (a status reached, an operation failed for good, an audience told) also on
    the timeline. A report that changes nothing leaves the case as it is."""
    silent = outcome.silent_audiences(case.decision, rules)
    folded = outcome.fold(case.outcome, data, silent)
    if folded == case.outcome:
        return case
    updated = case.model_copy(update={"outcome": folded})
    for action, detail in outcome.changes(case.outcome, folded):
        updated = updated.with_entry(outcome.reported_at(data), data.PRODUCER, action, detail)
    return updated


def order_restoration(
    case: Case, form: RestorationForm, staff: StaffMember, now: datetime
) -> tuple[Case, list[EventData]]:
    found = next((t for t in case.tamperings if t.tampering_id == form.tampering_id), None)
    if found is None:
        raise Rejected.one(
            Kind.INVALID,
            "validation_failed",
            "tampering_id",
            "known_tampering",
            f"no tampering {form.tampering_id!r} on {case.id}",
        )
    if found.restoration_ordered_by is not None:
        raise Rejected.one(
            Kind.CONFLICT,
            "already_ordered",
            "tampering_id",
            "once",
            f"restoration already ordered by {found.restoration_ordered_by}",
        )
    tamperings = [
        t.model_copy(update={"restoration_ordered_by": staff.id}) if t is found else t
        for t in case.tamperings
    ]
    updated = case.model_copy(update={"tamperings": tamperings}).with_entry(
        now, staff.id, "restoration-ordered", f"{found.wiki}: {found.target}"
    )
    return updated, [
        RestorationOrdered(
            case_id=case.id,
            wiki=found.wiki,
            tampering_id=found.tampering_id,
            ordered_by=staff.id,
            ordered_at=now,
        )
    ]

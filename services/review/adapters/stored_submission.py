"""The submission a case was opened from, as review stores it: its own models, mapped from
the contract's SubmissionReceived field by field (see casework/stored_decision.py for why)."""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, Field

from casework.contract import (
    Attachment,
    BannedEventRef,
    BreachKind,
    Channel,
    DmcaNotice,
    EvidenceItem,
    EvidenceLocation,
    Requester,
    ScreeningFlag,
    Subject,
    SubmissionKind,
    SubmissionReceived,
)
from casework.stored_decision import Stored


class StoredSubmissionSubject(Stored):
    account: str
    wikis: list[str] = Field(default_factory=list)


class StoredEvidenceItem(Stored):
    url: str
    description: str
    where: str


class StoredRequester(Stored):
    name: str
    email: str
    language: str = "en"
    named_publicly: bool = False


class StoredDmcaNotice(Stored):
    copyrighted_work: str
    infringing_material: str
    locations: list[str]
    contact_address: str
    contact_phone: str = ""
    good_faith_statement: bool
    accuracy_statement: bool
    signature: str


class StoredBannedEventRef(Stored):
    name: str
    on: date | None = None


class StoredScreeningFlag(Stored):
    rule: str
    reason: str
    matched: str = ""


class StoredAttachment(Stored):
    name: str
    content_type: str
    size: int
    sha256: str


class StoredSubmission(Stored):
    submission_id: str
    kind: str
    channel: str
    action_type: str | None = None
    routed_to: str
    summary: str
    subject: StoredSubmissionSubject | None = None
    evidence: list[StoredEvidenceItem] = Field(default_factory=list)
    prior_attempts: list[str] = Field(default_factory=list)
    requester: StoredRequester | None = None
    received_at: AwareDatetime
    urgent: bool = False
    refers_to: str | None = None
    questions: list[str] = Field(default_factory=list)
    dmca: StoredDmcaNotice | None = None
    breach: str | None = None
    banned_event: StoredBannedEventRef | None = None
    named_staff: list[str] = Field(default_factory=list)
    screening: list[StoredScreeningFlag] = Field(default_factory=list)
    duplicate_of: str | None = None
    attachments: list[StoredAttachment] = Field(default_factory=list)


def stored_submission(s: SubmissionReceived) -> StoredSubmission:
    return StoredSubmission(
        submission_id=s.submission_id,
        kind=s.kind.value,
        channel=s.channel.value,
        action_type=s.action_type,
        routed_to=s.routed_to,
        summary=s.summary,
        subject=(
            StoredSubmissionSubject(account=j.account, wikis=list(j.wikis))
            if (j := s.subject)
            else None
        ),
        evidence=[
            StoredEvidenceItem(url=e.url, description=e.description, where=e.where.value)
            for e in s.evidence
        ],
        prior_attempts=list(s.prior_attempts),
        requester=(
            StoredRequester(
                name=r.name, email=r.email, language=r.language, named_publicly=r.named_publicly
            )
            if (r := s.requester)
            else None
        ),
        received_at=s.received_at,
        urgent=s.urgent,
        refers_to=s.refers_to,
        questions=list(s.questions),
        dmca=_stored_dmca(s.dmca),
        breach=s.breach.value if s.breach else None,
        banned_event=(
            StoredBannedEventRef(name=b.name, on=b.on) if (b := s.banned_event) else None
        ),
        named_staff=list(s.named_staff),
        screening=[
            StoredScreeningFlag(rule=f.rule, reason=f.reason, matched=f.matched)
            for f in s.screening
        ],
        duplicate_of=s.duplicate_of,
        attachments=[
            StoredAttachment(name=a.name, content_type=a.content_type, size=a.size, sha256=a.sha256)
            for a in s.attachments
        ],
    )


def _stored_dmca(d: DmcaNotice | None) -> StoredDmcaNotice | None:
    if d is None:
        return None
    return StoredDmcaNotice(
        copyrighted_work=d.copyrighted_work,
        infringing_material=d.infringing_material,
        locations=list(d.locations),
        contact_address=d.contact_address,
        contact_phone=d.contact_phone,
        good_faith_statement=d.good_faith_statement,
        accuracy_statement=d.accuracy_statement,
        signature=d.signature,
    )


def contract_submission(s: StoredSubmission) -> SubmissionReceived:
    # Read back as the consumer reads intake's event (validated), never built: only intake
    # produces a SubmissionReceived (tests/test_architecture.py).
    return SubmissionReceived.model_validate(
        {
            "submission_id": s.submission_id,
            "kind": SubmissionKind(s.kind),
            "channel": Channel(s.channel),
            "action_type": s.action_type,
            "routed_to": s.routed_to,
            "summary": s.summary,
            "subject": Subject(account=j.account, wikis=list(j.wikis))
            if (j := s.subject)
            else None,
            "evidence": [
                EvidenceItem(url=e.url, description=e.description, where=EvidenceLocation(e.where))
                for e in s.evidence
            ],
            "prior_attempts": list(s.prior_attempts),
            "requester": (
                Requester(
                    name=r.name,
                    email=r.email,
                    language=r.language,
                    named_publicly=r.named_publicly,
                )
                if (r := s.requester)
                else None
            ),
            "received_at": s.received_at,
            "urgent": s.urgent,
            "refers_to": s.refers_to,
            "questions": list(s.questions),
            "dmca": _dmca(s.dmca),
            "breach": BreachKind(s.breach) if s.breach else None,
            "banned_event": BannedEventRef(name=b.name, on=b.on) if (b := s.banned_event) else None,
            "named_staff": list(s.named_staff),
            "screening": [
                ScreeningFlag(rule=f.rule, reason=f.reason, matched=f.matched) for f in s.screening
            ],
            "duplicate_of": s.duplicate_of,
            "attachments": [
                Attachment(name=a.name, content_type=a.content_type, size=a.size, sha256=a.sha256)
                for a in s.attachments
            ],
        }
    )


def _dmca(d: StoredDmcaNotice | None) -> DmcaNotice | None:
    if d is None:
        return None
    return DmcaNotice(
        copyrighted_work=d.copyrighted_work,
        infringing_material=d.infringing_material,
        locations=list(d.locations),
        contact_address=d.contact_address,
        contact_phone=d.contact_phone,
        good_faith_statement=d.good_faith_statement,
        accuracy_statement=d.accuracy_statement,
        signature=d.signature,
    )

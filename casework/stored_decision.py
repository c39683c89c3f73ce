"""The decision as the services store it (review in a case, enforcement in its record):
models of their own, mapped from the contract, versioned apart from it.

The contract's Decision may get a v2 (renamed, retyped, reordered or new fields) without
touching what is stored: the stores read and write these models, and the two functions
below map field by field, so a contract change shows up here (a mypy error, or a failing
round-trip test) rather than as a silent change of the stored documents. Today each model
mirrors the contract's JSON exactly, so documents written before this module existed load
unchanged. Values are plain (strings for enums, no length or pattern checks): they were
checked when the decision was received, and are checked again when mapped back. One copy in
the kernel for both services; each service freezes the stored shape it embeds this in
(services/*/adapters/schemas/), so a change here fails both freeze tests.
"""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from casework.contract import (
    AffectedUser,
    Audience,
    BannedEvent,
    ClauseGround,
    ContentTerms,
    DecidedEvidence,
    Decision,
    Disclosure,
    DisclosurePlan,
    EventBanTerms,
    EvidenceLocation,
    InteractionBanTerms,
    LegalDetermination,
    NoticePlan,
    PageAction,
    Question,
    Release,
    Removal,
    RightsRemovalTerms,
)
from casework.contract.decision import ClauseText


class Stored(BaseModel):
    """Frozen, and tolerant of fields a newer writer added (as the contract's parts are)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class StoredSubject(Stored):
    account: str
    email: str | None = None
    language: str = "en"


class StoredClauseText(Stored):
    source: str
    section: str
    text: str


class StoredGround(Stored):
    id: str
    catalogue_version: str
    source: str
    section: str
    text: str
    # Every other language's words as drafted; absent from grounds stored before it was kept.
    translations: dict[str, StoredClauseText] = Field(default_factory=dict)


class StoredInteractionBan(Stored):
    counterparties: list[str]
    two_way: bool = False
    restrictions: list[str] = Field(default_factory=list)
    exceptions: list[str] = Field(default_factory=list)
    pages: list[str] = Field(default_factory=list)
    namespaces: list[int] = Field(default_factory=list)


class StoredRightsRemoval(Stored):
    groups: list[str]
    reapply_criteria: str


class StoredBannedEvent(Stored):
    name: str
    starts_on: date
    ends_on: date


class StoredEventBan(Stored):
    events: list[StoredBannedEvent] = Field(default_factory=list)


class StoredPageAction(Stored):
    wiki: str
    title: str
    removal: str = "none"
    revisions: list[int] = Field(default_factory=list)
    protection: str | None = None


class StoredContent(Stored):
    pages: list[StoredPageAction]


class StoredNotices(Stored):
    user_page: bool = False
    concerned_pages: bool = False


class StoredEvidence(Stored):
    id: str
    description: str
    url: str | None = None
    where: str
    audiences: list[str] = Field(default_factory=list)


class StoredDetermination(Stored):
    text: str
    disclosure: str
    redacted_text: str | None = None
    grounds: str = ""
    counsel_id: str
    determined_at: AwareDatetime


class StoredRelease(Stored):
    audiences: list[str] = Field(default_factory=list)
    grounds: str = ""


class StoredDisclosure(Stored):
    public_statement: bool = True
    confidential_grounds: str = ""
    answers: dict[str, StoredRelease]


class StoredDecision(Stored):
    action_type: str
    subject: StoredSubject
    wikis: list[str] = Field(default_factory=list)
    expires_at: AwareDatetime | None = None
    grounds: list[StoredGround]
    public_rationale: str
    appealable: bool
    appeal_until: AwareDatetime | None = None
    revision: int = 1
    language: str = "en"
    interaction_ban: StoredInteractionBan | None = None
    rights_removal: StoredRightsRemoval | None = None
    event_ban: StoredEventBan | None = None
    content: StoredContent | None = None
    notices: StoredNotices
    evidence: list[StoredEvidence] = Field(default_factory=list)
    determination: StoredDetermination | None = None
    disclosure: StoredDisclosure


# --- contract → stored ------------------------------------------------------------------------


def stored_decision(d: Decision) -> StoredDecision:
    return StoredDecision(
        action_type=d.action_type,
        subject=StoredSubject(
            account=d.subject.account, email=d.subject.email, language=d.subject.language
        ),
        wikis=list(d.wikis),
        expires_at=d.expires_at,
        grounds=[_stored_ground(g) for g in d.grounds],
        public_rationale=d.public_rationale,
        appealable=d.appealable,
        appeal_until=d.appeal_until,
        revision=d.revision,
        language=d.language,
        interaction_ban=_stored_interaction_ban(d.interaction_ban),
        rights_removal=(
            StoredRightsRemoval(groups=list(r.groups), reapply_criteria=r.reapply_criteria)
            if (r := d.rights_removal)
            else None
        ),
        event_ban=(
            StoredEventBan(
                events=[
                    StoredBannedEvent(name=e.name, starts_on=e.starts_on, ends_on=e.ends_on)
                    for e in b.events
                ]
            )
            if (b := d.event_ban)
            else None
        ),
        content=_stored_content(d.content),
        notices=StoredNotices(
            user_page=d.notices.user_page, concerned_pages=d.notices.concerned_pages
        ),
        evidence=[
            StoredEvidence(
                id=e.id,
                description=e.description,
                url=e.url,
                where=e.where.value,
                audiences=[a.value for a in e.audiences],
            )
            for e in d.evidence
        ],
        determination=_stored_determination(d.determination),
        disclosure=_stored_disclosure(d.disclosure),
    )


def _stored_ground(g: ClauseGround) -> StoredGround:
    return StoredGround(
        id=g.id,
        catalogue_version=g.catalogue_version,
        source=g.source,
        section=g.section,
        text=g.text,
        translations={
            language: StoredClauseText(source=t.source, section=t.section, text=t.text)
            for language, t in g.translations.items()
        },
    )


def _stored_interaction_ban(i: InteractionBanTerms | None) -> StoredInteractionBan | None:
    if i is None:
        return None
    return StoredInteractionBan(
        counterparties=list(i.counterparties),
        two_way=i.two_way,
        restrictions=list(i.restrictions),
        exceptions=list(i.exceptions),
        pages=list(i.pages),
        namespaces=list(i.namespaces),
    )


def _stored_content(c: ContentTerms | None) -> StoredContent | None:
    if c is None:
        return None
    return StoredContent(
        pages=[
            StoredPageAction(
                wiki=p.wiki,
                title=p.title,
                removal=p.removal.value,
                revisions=list(p.revisions),
                protection=p.protection,
            )
            for p in c.pages
        ]
    )


def _stored_determination(t: LegalDetermination | None) -> StoredDetermination | None:
    if t is None:
        return None
    return StoredDetermination(
        text=t.text,
        disclosure=t.disclosure.value,
        redacted_text=t.redacted_text,
        grounds=t.grounds,
        counsel_id=t.counsel_id,
        determined_at=t.determined_at,
    )


def _stored_disclosure(p: DisclosurePlan) -> StoredDisclosure:
    return StoredDisclosure(
        public_statement=p.public_statement,
        confidential_grounds=p.confidential_grounds,
        answers={
            q.value: StoredRelease(audiences=[a.value for a in r.audiences], grounds=r.grounds)
            for q, r in p.answers.items()
        },
    )


# --- stored → contract ------------------------------------------------------------------------


def contract_decision(s: StoredDecision) -> Decision:
    return Decision(
        action_type=s.action_type,
        subject=AffectedUser(
            account=s.subject.account, email=s.subject.email, language=s.subject.language
        ),
        wikis=list(s.wikis),
        expires_at=s.expires_at,
        grounds=[_ground(g) for g in s.grounds],
        public_rationale=s.public_rationale,
        appealable=s.appealable,
        appeal_until=s.appeal_until,
        revision=s.revision,
        language=s.language,
        interaction_ban=_interaction_ban(s.interaction_ban),
        rights_removal=(
            RightsRemovalTerms(groups=list(r.groups), reapply_criteria=r.reapply_criteria)
            if (r := s.rights_removal)
            else None
        ),
        event_ban=(
            EventBanTerms(
                events=[
                    BannedEvent(name=e.name, starts_on=e.starts_on, ends_on=e.ends_on)
                    for e in b.events
                ]
            )
            if (b := s.event_ban)
            else None
        ),
        content=_content(s.content),
        notices=NoticePlan(
            user_page=s.notices.user_page, concerned_pages=s.notices.concerned_pages
        ),
        evidence=[
            DecidedEvidence(
                id=e.id,
                description=e.description,
                url=e.url,
                where=EvidenceLocation(e.where),
                audiences=[Audience(a) for a in e.audiences],
            )
            for e in s.evidence
        ],
        determination=_determination(s.determination),
        disclosure=_disclosure(s.disclosure),
    )


def _ground(g: StoredGround) -> ClauseGround:
    return ClauseGround(
        id=g.id,
        catalogue_version=g.catalogue_version,
        source=g.source,
        section=g.section,
        text=g.text,
        translations={
            language: ClauseText(source=t.source, section=t.section, text=t.text)
            for language, t in g.translations.items()
        },
    )


def _interaction_ban(i: StoredInteractionBan | None) -> InteractionBanTerms | None:
    if i is None:
        return None
    return InteractionBanTerms(
        counterparties=list(i.counterparties),
        two_way=i.two_way,
        restrictions=list(i.restrictions),
        exceptions=list(i.exceptions),
        pages=list(i.pages),
        namespaces=list(i.namespaces),
    )


def _content(c: StoredContent | None) -> ContentTerms | None:
    if c is None:
        return None
    return ContentTerms(
        pages=[
            PageAction(
                wiki=p.wiki,
                title=p.title,
                removal=Removal(p.removal),
                revisions=list(p.revisions),
                protection=p.protection,
            )
            for p in c.pages
        ]
    )


def _determination(t: StoredDetermination | None) -> LegalDetermination | None:
    if t is None:
        return None
    return LegalDetermination(
        text=t.text,
        disclosure=Disclosure(t.disclosure),
        redacted_text=t.redacted_text,
        grounds=t.grounds,
        counsel_id=t.counsel_id,
        determined_at=t.determined_at,
    )


def _disclosure(p: StoredDisclosure) -> DisclosurePlan:
    return DisclosurePlan(
        public_statement=p.public_statement,
        confidential_grounds=p.confidential_grounds,
        answers={
            Question(q): Release(audiences=[Audience(a) for a in r.audiences], grounds=r.grounds)
            for q, r in p.answers.items()
        },
    )

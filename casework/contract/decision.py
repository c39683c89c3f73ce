"""A decision as review publishes it: what to do, on what grounds, and who may know what.

Enforcement reads the action parameters; notify reads the grounds, evidence,
sign-offs, legal determination and disclosure plan to answer, per audience,
the five questions of DESIGN.md §4. Staff-only working material (the statement
of facts, investigation notes) stays in review and never travels.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from casework.contract.common import (
    Account,
    Audience,
    AwareDatetime,
    Email,
    EvidenceLocation,
    Language,
    PageTitle,
    Part,
    Url,
    WikiId,
)

Text = Annotated[str, Field(max_length=20_000)]


class AffectedUser(Part):
    account: Account
    email: Email | None = Field(default=None, description="Staff-level: never published.")
    language: Language = "en"


class ClauseText(Part):
    """A clause's words in one language, as they stood when the decision was drafted."""

    source: str
    section: str
    text: str


class ClauseGround(Part):
    """A clause the decision rests on, with its text as it stood when decided: the English
    original in source, section and text, every other language of the policy in
    translations, so a later catalogue edit never changes what the decision said."""

    id: str
    catalogue_version: str
    source: str
    section: str
    text: str
    translations: dict[Language, ClauseText] = Field(
        default_factory=dict,
        description=(
            "The clause in each language the policy gave it in besides English, by language "
            "code, as it stood when drafted. Empty on decisions drafted before it was kept."
        ),
    )


class InteractionBanTerms(Part):
    counterparties: list[Account] = Field(min_length=1)
    two_way: bool = False
    restrictions: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list
    )
    exceptions: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list
    )
    pages: list[PageTitle] = Field(
        default_factory=list, description="Pages to partially block the subject from."
    )
    namespaces: list[int] = Field(
        default_factory=list, description="Namespace numbers to partially block the subject from."
    )


class RightsRemovalTerms(Part):
    groups: list[Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]] = Field(min_length=1)
    reapply_criteria: Annotated[str, Field(min_length=1, max_length=5000)]


class BannedEvent(Part):
    name: Annotated[str, Field(min_length=1, max_length=300)]
    starts_on: date
    ends_on: date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


class EventBanTerms(Part):
    events: list[BannedEvent] = Field(
        default_factory=list, description="Empty means every event the operator runs or funds."
    )


class Removal(StrEnum):
    NONE = "none"
    DELETE = "delete"
    REVISION_DELETE = "revision-delete"
    SUPPRESS = "suppress"


class PageAction(Part):
    """One page a content decision (DMCA, child protection, court order) acts on."""

    wiki: WikiId
    title: PageTitle
    removal: Removal = Removal.NONE
    revisions: list[int] = Field(
        default_factory=list, description="For revision-delete or suppress: revision ids."
    )
    protection: str | None = Field(
        default=None,
        description="Protection level for edit and move (e.g. 'sysop'); None leaves it alone.",
    )


class ContentTerms(Part):
    pages: list[PageAction] = Field(min_length=1)


class NoticePlan(Part):
    user_page: bool = Field(default=False, description="Edit a notice onto the user's page.")
    concerned_pages: bool = Field(
        default=False, description="Edit a notice onto each page a content decision acts on."
    )


class DecidedEvidence(Part):
    """An evidence item the decision relies on. `audiences` may see it (staff always can)."""

    id: str
    description: Annotated[str, Field(min_length=1, max_length=2000)]
    url: Url | None = None
    where: EvidenceLocation
    audiences: list[Audience] = Field(default_factory=list)


class Disclosure(StrEnum):
    FULL = "full"
    REDACTED = "redacted"
    WITHHELD = "withheld"


class LegalDetermination(Part):
    """Counsel's determination, word for word, with what may be disclosed of it."""

    text: Annotated[str, Field(min_length=1, max_length=50_000)]
    disclosure: Disclosure
    redacted_text: str | None = None
    grounds: str = Field(default="", description="Why it is redacted or withheld.")
    counsel_id: str
    determined_at: AwareDatetime

    @model_validator(mode="after")
    def _disclosure_consistent(self) -> Self:
        if self.disclosure is Disclosure.REDACTED and not self.redacted_text:
            raise ValueError("redacted_text is required when disclosure is redacted")
        if self.disclosure is not Disclosure.FULL and not self.grounds.strip():
            raise ValueError("grounds are required unless disclosure is full")
        return self

    def disclosed_text(self) -> str | None:
        """What may leave legal: the text, its redaction, or nothing."""
        if self.disclosure is Disclosure.FULL:
            return self.text
        if self.disclosure is Disclosure.REDACTED:
            return self.redacted_text
        return None


class Question(StrEnum):
    """The five questions of the seed correspondence (DESIGN.md §4)."""

    CLAUSES = "clauses"
    WHERE = "where"
    LANGUAGE_EXPERTISE = "language-expertise"
    PUBLIC_ACTIONS = "public-actions"
    LEGAL_DETERMINATION = "legal-determination"


class Release(Part):
    """Who may have the answer to one question; grounds for everyone else."""

    audiences: list[Audience] = Field(default_factory=list)
    grounds: str = ""


def _undecided() -> dict[Question, Release]:
    return {q: Release(grounds="no disclosure decision recorded") for q in Question}


class DisclosurePlan(Part):
    public_statement: bool = Field(
        default=True, description="False for confidential actions (e.g. a conduct warning)."
    )
    confidential_grounds: str = Field(default="", description="Why there is no public statement.")
    answers: dict[Question, Release] = Field(default_factory=_undecided)

    def may_know(self, question: Question, audience: Audience) -> bool:
        release = self.answers.get(question)
        if release is None:
            return audience in (Audience.STAFF, Audience.LEGAL_PRIVILEGED)
        return audience in release.audiences or Audience.PUBLIC in release.audiences


class Decision(Part):
    action_type: str
    subject: AffectedUser
    wikis: list[WikiId] = Field(default_factory=list, description="Empty means the whole farm.")
    expires_at: AwareDatetime | None = Field(default=None, description="None means indefinite.")
    grounds: list[ClauseGround] = Field(min_length=1)
    public_rationale: Annotated[str, Field(min_length=1, max_length=5000)]
    appealable: bool
    appeal_until: AwareDatetime | None = None
    revision: int = Field(default=1, ge=1, description="Changes restart the sign-off chain.")
    language: Language = Field(default="en", description="The community's language.")
    interaction_ban: InteractionBanTerms | None = None
    rights_removal: RightsRemovalTerms | None = None
    event_ban: EventBanTerms | None = None
    content: ContentTerms | None = None
    notices: NoticePlan = Field(default_factory=NoticePlan)
    evidence: list[DecidedEvidence] = Field(default_factory=list)
    determination: LegalDetermination | None = None
    disclosure: DisclosurePlan = Field(default_factory=DisclosurePlan)


class SignerAuthentication(Part):
    """How and when the signer last proved who they are, as review saw it at signing."""

    method: Literal["password", "oidc", "token"] | str = Field(
        description="password: review's own sign-in; oidc: the identity provider; token: API."
    )
    acr: str | None = Field(default=None, description="The provider's acr claim, if any.")
    amr: list[str] = Field(default_factory=list, description="The provider's amr claim.")
    auth_time: AwareDatetime | None = Field(
        default=None, description="When the signer authenticated (the auth_time claim)."
    )


class SignOff(Part):
    level: str
    staff_id: str
    verdict: Literal["approve", "decline", "send-back"] | str
    comment: str
    languages: list[Language]
    signed_at: AwareDatetime
    authentication: SignerAuthentication | None = Field(
        default=None, description="Absent on sign-offs recorded before it was kept."
    )

"""The decision form and counsel's determination. Any change restarts the sign-off chain. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from casework.contract import (
    AffectedUser,
    Audience,
    AwareDatetime,
    ClauseGround,
    ContentTerms,
    DecidedEvidence,
    Decision,
    Disclosure,
    DisclosurePlan,
    EventBanTerms,
    InteractionBanTerms,
    Language,
    LegalDetermination,
    NoticePlan,
    RightsRemovalTerms,
    WikiId,
)
from casework.errors import FieldError, Kind, Rejected
from casework.policy import Policy
from casework.policy.grounds import clause_words
from casework.policy.translations import SOURCE_LANGUAGE
from casework.text import NO_CONTROL
from services.review.domain.case import Case, CaseState
from services.review.domain.staff import StaffMember

# The action-type terms a decision must carry, by the action type's enforcement.
TERMS_REQUIRED = {
    "partial-block": "interaction_ban",
    "rights-removal": "rights_removal",
    "content-removal": "content",
    "page-protection": "content",
}
LEGAL_LEVEL = "legal-counsel"


class AffectedUserInput(AffectedUser):
    """As staff type it: a misspelt field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceChoice(BaseModel):
    """A case evidence item the decision relies on, and who may see it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    audiences: list[Audience] = []


class DecisionForm(BaseModel):
    """A staff member's draft of the decision for a case: every parameter of the contract."""

    model_config = ConfigDict(extra="forbid")

    action_type: str | None = Field(default=None, description="Defaults to the case's.")
    subject: AffectedUserInput
    wikis: list[WikiId] = []
    expires_at: AwareDatetime | None = None
    grounds: Annotated[list[str], Field(min_length=1, max_length=20)]
    statement_of_facts: Annotated[str, Field(max_length=50_000), NO_CONTROL] = Field(
        default="", description="Staff only: stays in review."
    )
    public_rationale: Annotated[str, Field(min_length=1, max_length=5000), NO_CONTROL]
    appealable: StrictBool | None = None
    appeal_until: AwareDatetime | None = Field(
        default=None, description="Defaults to the policy's appeal window from approval."
    )
    language: Language | None = Field(default=None, description="The community's language.")
    interaction_ban: InteractionBanTerms | None = None
    rights_removal: RightsRemovalTerms | None = None
    event_ban: EventBanTerms | None = None
    content: ContentTerms | None = None
    notices: NoticePlan = NoticePlan()
    evidence: list[EvidenceChoice] = []
    disclosure: DisclosurePlan = DisclosurePlan()


class DeterminationForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=50_000), NO_CONTROL]
    disclosure: Disclosure
    redacted_text: Annotated[str, Field(max_length=50_000), NO_CONTROL] | None = None
    grounds: Annotated[str, Field(max_length=5000), NO_CONTROL] = ""


def _invalid(errors: list[FieldError]) -> Rejected:
    return Rejected(Kind.INVALID, "validation_failed", errors)


def _check_open_for_change(case: Case) -> None:
    case.check_open()
    if case.state is CaseState.ENFORCING_AWAITING_SIGNOFF:
        raise Rejected.one(
            Kind.CONFLICT,
            "already_enforced",
            "state",
            "not_enforcing",
            "the decision is being enforced; decline it to reverse, then open a new case",
        )


def _form_errors(
    case: Case, form: DecisionForm, policy: Policy, now: datetime, action_type: str | None
) -> list[FieldError]:
    """Everything wrong with the form against the policy and the case, all at once."""
    errors: list[FieldError] = []
    if action_type is None or action_type not in policy.action_types:
        errors.append(
            FieldError(
                "action_type",
                "one_of",
                f"name the action type, one of: {', '.join(sorted(policy.action_types))}",
            )
        )
    catalogue = policy.clauses
    errors += [
        FieldError(
            f"grounds.{i}", "known_clause", f"unknown clause {g!r} in catalogue {catalogue.version}"
        )
        for i, g in enumerate(form.grounds)
        if g not in catalogue.items
    ]
    if form.expires_at is not None and form.expires_at <= now:
        errors.append(FieldError("expires_at", "future", "must be in the future"))
    if form.appeal_until is not None and form.appeal_until <= now:
        errors.append(FieldError("appeal_until", "future", "must be in the future"))
    known_evidence = {e.id: e for e in case.evidence}
    errors += [
        FieldError(f"evidence.{i}.id", "known_evidence", f"no evidence item {c.id!r} on the case")
        for i, c in enumerate(form.evidence)
        if c.id not in known_evidence
    ]
    if action_type in policy.action_types:
        action = policy.action(action_type)
        needed = TERMS_REQUIRED.get(action.enforcement.value)
        if needed is not None and getattr(form, needed) is None:
            errors.append(FieldError(needed, "required", f"required for a {action.title.lower()}"))
        if action_type == "event-ban" and form.event_ban is None:
            errors.append(FieldError("event_ban", "required", "required for an event ban"))
        if form.appealable and not action.appealable:
            errors.append(
                FieldError("appealable", "policy", f"a {action.title.lower()} is not appealable")
            )
    return errors


def clause_ground(policy: Policy, clause_id: str) -> ClauseGround:
    """A catalogue clause as the decision keeps it: in English and in every other language
    the policy declares, so what the decision said stays as drafted in each of them."""
    catalogue = policy.clauses
    clause = catalogue.items[clause_id]
    return ClauseGround(
        id=clause_id,
        catalogue_version=catalogue.version,
        source=clause.source,
        section=clause.section,
        text=clause.text,
        translations={
            language: clause_words(policy, language, clause_id)
            for language in policy.languages
            if language != SOURCE_LANGUAGE
        },
    )


def _decision_of(case: Case, form: DecisionForm, policy: Policy, action_type: str) -> Decision:
    """The decision the (valid) form records: the clauses and evidence copied in full."""
    known_evidence = {e.id: e for e in case.evidence}
    action = policy.action(action_type)
    appealable = action.appealable if form.appealable is None else form.appealable
    revision = case.decision_revision + 1
    return Decision(
        action_type=action_type,
        subject=AffectedUser.model_validate(form.subject.model_dump()),
        wikis=form.wikis,
        expires_at=form.expires_at,
        grounds=[clause_ground(policy, g) for g in form.grounds],
        public_rationale=form.public_rationale,
        appealable=appealable,
        appeal_until=form.appeal_until if appealable else None,
        revision=revision,
        language=form.language or case.language,
        interaction_ban=form.interaction_ban,
        rights_removal=form.rights_removal,
        event_ban=form.event_ban,
        content=form.content,
        notices=form.notices,
        evidence=[
            DecidedEvidence(
                id=c.id,
                description=known_evidence[c.id].description,
                url=known_evidence[c.id].url,
                where=known_evidence[c.id].where,
                audiences=c.audiences,
            )
            for c in form.evidence
        ],
        # Counsel's determination stands until counsel changes it.
        determination=case.decision.determination if case.decision else None,
        disclosure=form.disclosure,
    )


def draft_decision(
    case: Case, form: DecisionForm, staff: StaffMember, policy: Policy, now: datetime
) -> Case:
    """Record (or change) the decision; any change restarts the sign-off chain."""
    _check_open_for_change(case)
    action_type = form.action_type or case.action_type
    errors = _form_errors(case, form, policy, now, action_type)
    if errors:
        raise _invalid(errors)
    assert action_type is not None
    decision = _decision_of(case, form, policy, action_type)
    if (
        case.state is CaseState.AWAITING_SIGNOFF
        and case.decision is not None
        and decision.model_copy(update={"revision": case.decision.revision}) == case.decision
        and form.statement_of_facts == case.statement_of_facts
        and action_type == case.action_type
    ):
        return case  # the same decision again (a retried request): nothing changes
    return _restart(
        case.model_copy(
            update={
                "action_type": action_type,
                "statement_of_facts": form.statement_of_facts,
                "language": decision.language,
            }
        ),
        decision,
        policy,
        staff.id,
        now,
        "decision-drafted",
    )


def record_determination(
    case: Case, form: DeterminationForm, staff: StaffMember, policy: Policy, now: datetime
) -> Case:
    """Counsel's determination, word for word; only legal counsel records it."""
    _check_open_for_change(case)
    if LEGAL_LEVEL not in staff.levels:
        raise Rejected.one(
            Kind.FORBIDDEN,
            "not_entitled",
            "staff",
            "legal_counsel",
            "only legal counsel records a legal determination",
        )
    if case.decision is None:
        raise Rejected.one(
            Kind.CONFLICT, "no_decision", "decision", "drafted", "draft a decision first"
        )
    try:
        determination = LegalDetermination(
            text=form.text,
            disclosure=form.disclosure,
            redacted_text=form.redacted_text,
            grounds=form.grounds,
            counsel_id=staff.id,
            determined_at=now,
        )
    except ValueError as exc:
        rule = "required"
        field = "redacted_text" if "redacted_text" in str(exc) else "grounds"
        raise _invalid([FieldError(field, rule, str(exc).splitlines()[-1])]) from None
    decision = case.decision.model_copy(
        update={"determination": determination, "revision": case.decision_revision + 1}
    )
    return _restart(case, decision, policy, staff.id, now, "determination-recorded")


def _restart(
    case: Case, decision: Decision, policy: Policy, actor: str, now: datetime, action: str
) -> Case:
    restarted = bool(case.signoffs)
    revision = case.decision_revision + 1
    updated = case.model_copy(
        update={
            "decision": decision.model_copy(update={"revision": revision}),
            "decision_revision": revision,
            "past_signoffs": [*case.past_signoffs, *case.signoffs],
            "signoffs": [],
            "chain": list(policy.action(decision.action_type).signoff),
            "state": CaseState.AWAITING_SIGNOFF,
        }
    )
    detail = f"revision {revision}" + ("; sign-off chain restarted" if restarted else "")
    return updated.with_entry(now, actor, action, detail)

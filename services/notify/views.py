"""Audience views: each output is rendered from one of these and nothing else.

A view copies only the fields its audience may see. Templates never receive
the event itself, so a private field cannot reach an output by accident.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from casework.contract import ActionEnforced
from casework.policy import Policy


class ClauseView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    section: str
    text: str
    catalogue_version: str


class PublicView(BaseModel):
    """What anyone may know: never the requester, never an address, never private evidence."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    action_title: str
    account: str
    wikis: list[str]
    enforced_at: datetime
    expires_at: datetime | None
    clauses: list[ClauseView]
    public_rationale: str
    appealable: bool


class AffectedUserView(PublicView):
    """What the affected user is told, on top of the public view."""

    language: str
    appeal_until: datetime | None
    contact_address: str


def _clauses(event: ActionEnforced) -> list[ClauseView]:
    return [
        ClauseView(
            id=g.id,
            source=g.source,
            section=g.section,
            text=g.text,
            catalogue_version=g.catalogue_version,
        )
        for g in event.decision.grounds
    ]


def _wikis(event: ActionEnforced) -> list[str]:
    return sorted({op.wiki for op in event.operations}) or list(event.decision.wikis)


def public_view(event: ActionEnforced, policy: Policy) -> PublicView:
    decision = event.decision
    return PublicView(
        case_id=event.case_id,
        action_title=policy.action(decision.action_type).title,
        account=decision.subject.account,
        wikis=_wikis(event),
        enforced_at=event.enforced_at,
        expires_at=decision.expires_at,
        clauses=_clauses(event),
        public_rationale=decision.public_rationale,
        appealable=decision.appealable,
    )


def affected_user_view(event: ActionEnforced, policy: Policy) -> AffectedUserView:
    decision = event.decision
    action = policy.action(decision.action_type)
    return AffectedUserView(
        **public_view(event, policy).model_dump(),
        language=decision.subject.language,
        appeal_until=decision.appeal_until,
        contact_address=policy.teams[action.routed_to].address,
    )

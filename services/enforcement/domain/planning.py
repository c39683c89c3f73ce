"""From an approved decision to the wiki operations it needs. Pure: time passed in.

:func:`plan` is the entry: it checks the decision's wikis against the farm, lets the
planner of the action's enforcement kind (:data:`PLANNERS`) add its operations and notes,
then adds the user-page notices and the record's priority.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from casework.contract import Decision, DecisionApproved, Removal
from casework.policy import ActionType, Enforcement, Policy
from services.enforcement.domain.log_reasons import LogWording, action_reason
from services.enforcement.domain.operations import (
    Operation,
    OpKind,
    user_title,
)
from services.enforcement.domain.record import EnforcementRecord
from services.enforcement.policy import EnforcementRules


class Unsupported(Exception):
    """The decision cannot be enforced as it stands (e.g. a wiki outside the farm)."""


RenderNotice = Callable[[str, str], str]
"""(case_id, page the notice goes on) → wikitext of the notice."""


@dataclass
class Draft:
    """What a planner reads (the decision and its policy) and adds to (operations, notes)."""

    case_id: str
    decision: Decision
    action: ActionType
    rules: EnforcementRules
    wikis: list[str]
    reason: str
    expiry: str
    notice: RenderNotice | None
    central_wiki: str | None
    operations: list[Operation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def account(self) -> str:
        return self.decision.subject.account

    def op(self, wiki: str, kind: OpKind, target: str, **fields: Any) -> None:
        self.operations.append(
            Operation(
                wiki=wiki, kind=kind, target=target, reason=self.reason, untouched=True, **fields
            )
        )


Planner = Callable[[Draft], None]


def _ban(d: Draft) -> None:
    """A sitewide block on every wiki, and a global lock where the farm has CentralAuth."""
    for wiki in d.wikis:
        d.op(wiki, OpKind.BLOCK, d.account, expiry=d.expiry, flags=d.rules.sitewide_block)
    if d.central_wiki is not None:
        d.op(d.central_wiki, OpKind.GLOBAL_LOCK, d.account)


def _interaction_ban(d: Draft) -> None:
    """Recorded; a partial block only where the terms list pages or namespaces."""
    terms = d.decision.interaction_ban
    if terms is None:
        raise Unsupported("an interaction ban needs interaction_ban terms")
    d.notes.append(
        f"interaction ban with {', '.join(terms.counterparties)}"
        f" ({'two-way' if terms.two_way else 'one-way'}) recorded"
    )
    if terms.pages or terms.namespaces:
        for wiki in d.wikis:
            d.op(
                wiki,
                OpKind.PARTIAL_BLOCK,
                d.account,
                expiry=d.expiry,
                flags=d.rules.partial_block,
                pages=list(terms.pages),
                namespaces=list(terms.namespaces),
            )


def _rights_removal(d: Draft) -> None:
    terms = d.decision.rights_removal
    if terms is None:
        raise Unsupported("a removal of advanced rights needs rights_removal terms")
    d.notes.append(f"reapply criteria: {terms.reapply_criteria}")
    for wiki in d.wikis:
        d.op(wiki, OpKind.REMOVE_RIGHTS, d.account, groups=list(terms.groups))


def _pages(d: Draft, default_protection: str | None) -> None:
    """Per page: its removal, its notice, then its protection (the page's own level, else
    ``default_protection``)."""
    decision = d.decision
    if decision.content is None:
        raise Unsupported(f"{decision.action_type} needs content terms (pages)")
    child = decision.action_type in d.rules.first
    for page in decision.content.pages:
        removal = page.removal
        if child and removal in (Removal.NONE, Removal.DELETE):
            removal = Removal.SUPPRESS  # child protection: delete and suppress
        if removal is Removal.DELETE:
            d.op(page.wiki, OpKind.DELETE, page.title)
        elif removal is Removal.REVISION_DELETE or (removal is Removal.SUPPRESS and page.revisions):
            d.op(
                page.wiki,
                OpKind.HIDE_REVISIONS,
                page.title,
                revisions=list(page.revisions),
                suppress=removal is Removal.SUPPRESS,
            )
        elif removal is Removal.SUPPRESS:
            d.op(page.wiki, OpKind.DELETE, page.title)
            d.op(page.wiki, OpKind.HIDE_REVISIONS, page.title, archived=True, suppress=True)
        if d.notice is not None and decision.notices.concerned_pages:
            # Before protecting: a deleted page's notice recreates it, which would
            # drop a create protection.
            d.op(page.wiki, OpKind.NOTICE, page.title, text=d.notice(d.case_id, page.title))
        level = page.protection or default_protection
        if level:
            d.op(page.wiki, OpKind.PROTECT, page.title, protection=level, expiry=d.expiry)


def _content_removal(d: Draft) -> None:
    _pages(d, None)


def _page_protection(d: Draft) -> None:
    _pages(d, d.rules.office_protection)


def _record_only(d: Draft) -> None:
    """No wiki action: an event ban (or another such action) is noted on the case."""
    decision = d.decision
    if decision.event_ban is not None and decision.event_ban.events:
        listed = "; ".join(
            f"{e.name} ({e.starts_on.isoformat()}–{e.ends_on.isoformat()})"
            for e in decision.event_ban.events
        )
        d.notes.append(f"event ban recorded: {listed}")
    elif decision.action_type == "event-ban":
        d.notes.append("event ban recorded: every event the operator runs or funds")
    else:
        d.notes.append(f"{d.action.title}: no wiki action; noted on the case")


PLANNERS: dict[Enforcement, Planner] = {
    Enforcement.SITEWIDE_BLOCK: _ban,
    Enforcement.PARTIAL_BLOCK: _interaction_ban,
    Enforcement.RIGHTS_REMOVAL: _rights_removal,
    Enforcement.CONTENT_REMOVAL: _content_removal,
    Enforcement.PAGE_PROTECTION: _page_protection,
    Enforcement.RECORD_ONLY: _record_only,
}


def plan(
    approved: DecisionApproved,
    policy: Policy,
    rules: EnforcementRules,
    farm: list[str],
    public_log_page: str,
    now: datetime,
    *,
    notice: RenderNotice | None = None,
    central_wiki: str | None = None,
    wording: LogWording | None = None,
) -> EnforcementRecord:
    """Every operation the decision needs, per target wiki, in the order they must run.
    ``wording``: the community's language for the wiki's log reasons (English alone if none)."""
    decision = approved.decision
    case_id = approved.case_id
    action = policy.action(decision.action_type)
    wikis = sorted(set(decision.wikis)) or sorted(farm)
    content_wikis = {p.wiki for p in decision.content.pages} if decision.content else set()
    unknown = sorted((set(wikis) | content_wikis) - set(farm))
    if unknown:
        raise Unsupported(f"wikis not in the configured farm: {', '.join(unknown)}")
    local_title = (
        policy.text(wording.language, "action_types", decision.action_type) if wording else None
    )
    draft = Draft(
        case_id=case_id,
        decision=decision,
        action=action,
        rules=rules,
        wikis=wikis,
        reason=action_reason(case_id, action.title, public_log_page, wording, local_title),
        expiry=decision.expires_at.isoformat() if decision.expires_at else "infinite",
        notice=notice,
        central_wiki=central_wiki,
    )
    PLANNERS[action.enforcement](draft)
    if notice is not None and decision.notices.user_page:
        for wiki in wikis:
            user_page = user_title(draft.account)
            draft.op(wiki, OpKind.NOTICE, user_page, text=notice(case_id, user_page))
    priority = 0
    if decision.action_type in rules.first:
        priority = len(rules.first) - rules.first.index(decision.action_type)
    return EnforcementRecord(
        case_id=case_id,
        decision=decision,
        operations=draft.operations,
        received_at=now,
        priority=priority,
        notes=draft.notes,
    )

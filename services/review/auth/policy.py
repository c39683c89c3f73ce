"""Authorisation: may this staff member do this action, on this case? Pure, no I/O.

A role grants the actions the policy's `access.roles` lists for it; a case can
further hide itself from staff: everyone named in an abuse report about staff, and
(if the policy restricts the team the case is routed to) every role not allowed there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from casework.contract import canonical_account
from casework.errors import Kind, Rejected
from casework.policy import Policy
from casework.policy.access import AccessRules
from services.review.domain.permissions import Action
from services.review.domain.staff import StaffMember

if TYPE_CHECKING:
    from services.review.domain.case import Case

_installed: AccessRules | None = None


class AccessPolicyError(Exception):
    """The policy's access section names an action or team the service does not know."""


def action_name(action: Action) -> str:
    """The policy file's spelling of an action: `Action.READ_CASE` is `read-case`."""
    return action.name.lower().replace("_", "-")


def install(policy: Policy) -> AccessRules:
    """Check the access section against this service and make it the default rules."""
    global _installed
    check_access_policy(policy)
    _installed = policy.access
    return policy.access


def check_access_policy(policy: Policy) -> None:
    known = {action_name(a) for a in Action}
    for role, rules in policy.access.roles.items():
        for i, name in enumerate(rules.actions):
            if name not in known:
                raise AccessPolicyError(
                    f"access.roles.{role}.actions[{i}]: unknown action {name!r} "
                    f"(known: {', '.join(sorted(known))})"
                )
    for team in policy.access.restricted_teams:
        if team not in policy.teams:
            raise AccessPolicyError(
                f"access.restricted_teams.{team}: unknown team "
                f"(known: {', '.join(sorted(policy.teams))})"
            )


def allowed_actions(staff: StaffMember, rules: AccessRules) -> frozenset[str]:
    granted: set[str] = set()
    for role in staff.roles:
        granted |= rules.actions_of(role)
    return frozenset(granted)


def authorize(
    staff: StaffMember,
    action: Action,
    case: Case | None = None,
    rules: AccessRules | None = None,
) -> None:
    """Raise `Rejected(FORBIDDEN)` unless ``staff`` may do ``action`` (on ``case``).

    ``rules`` defaults to the access section installed at start-up (`install`).
    """
    rules = rules if rules is not None else _default_rules()
    name = action_name(action)
    if name not in allowed_actions(staff, rules):
        roles = ", ".join(staff.roles) or "none"
        raise Rejected.one(
            Kind.FORBIDDEN,
            "forbidden",
            "action",
            "role_allows",
            f"{name}: not allowed for {staff.id}'s roles ({roles})",
        )
    if case is not None:
        check_case_access(staff, case, rules)


def check_case_access(staff: StaffMember, case: Case, rules: AccessRules) -> None:
    bar = case.is_barred(staff)
    named = case.submission.named_staff if case.submission is not None else []
    if (bar is not None and bar.reason == "named-in-report") or is_named_in(staff, named):
        raise Rejected.one(
            Kind.FORBIDDEN,
            "forbidden",
            "case_id",
            "not_named_staff",
            f"{case.id}: {staff.id} is named in this report and may not see the case",
        )
    allowed_roles = rules.restricted_teams.get(case.routed_to)
    if allowed_roles is not None and not set(staff.roles) & set(allowed_roles):
        raise Rejected.one(
            Kind.FORBIDDEN,
            "forbidden",
            "case_id",
            "team_restricted",
            f"{case.id}: cases of team {case.routed_to} are for roles "
            f"{', '.join(allowed_roles) or 'none'} only",
        )


def can(
    staff: StaffMember, action: Action, case: Case | None = None, rules: AccessRules | None = None
) -> bool:
    """`authorize` as a yes/no, for deciding what a page shows."""
    try:
        authorize(staff, action, case, rules)
    except Rejected:
        return False
    return True


def is_named_in(staff: StaffMember, named: list[str]) -> bool:
    if not named:
        return False
    wanted = {n.strip().lower() for n in named}
    if staff.id.lower() in wanted or staff.email.lower() in wanted:
        return True
    accounts = {_canonical(n) for n in named}
    return any(_canonical(a) in accounts for a in staff.wiki_accounts)


def _canonical(account: str) -> str:
    try:
        return canonical_account(account)
    except ValueError:
        return account.strip()


def _default_rules() -> AccessRules:
    global _installed
    if _installed is None:
        from casework.config import REPO_ROOT
        from casework.policy import load_policy

        _installed = load_policy(REPO_ROOT / "policy" / "office-actions.yaml").access
    return _installed

"""Rules read from the policy that more than one audience's messages share."""

from __future__ import annotations

from casework.contract import ActionEnforced
from casework.policy import Policy


def team_address(policy: Policy, action: str | None) -> str:
    """Where a requester writes back: the team the action type is routed to (else the first)."""
    if action and action in policy.action_types:
        return policy.teams[policy.action(action).routed_to].address
    return next(iter(policy.teams.values())).address


def confidential_grounds(enforced: ActionEnforced, policy: Policy) -> str | None:
    """Why an enforced decision has no public statement; None when it has one."""
    decision = enforced.decision
    if decision.action_type in policy.notify.confidential_action_types:
        return (
            decision.disclosure.confidential_grounds.strip()
            or f"{decision.action_type} is confidential by policy"
        )
    if not decision.disclosure.public_statement:
        return decision.disclosure.confidential_grounds.strip() or "confidential decision"
    return None

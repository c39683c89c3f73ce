"""The policy file's `access:` section: staff roles, what each may do, and case restrictions.

Action names are the review service's use-case actions written lower-case with
hyphens (`read-case` for `Action.READ_CASE`); the review service checks at start-up
that every name is one it knows, since this kernel module cannot import it.

In the kernel because more than one service reads it: every service's assertion-gated
API (notify's and the monitor's pages among them) and review's staff sign-in and case
restrictions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

ACTION_NAME = r"^[a-z]+(?:-[a-z]+)*$"


class Role(StrEnum):
    TRIAGE = "triage"
    HANDLER = "handler"
    MANAGER = "manager"
    LEGAL = "legal"
    DIRECTOR = "director"
    AUDITOR = "auditor"
    ADMIN = "admin"
    OPS = "ops"  # the monitor's dashboard; no action in review


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleRules(_Strict):
    title: str = Field(min_length=1)
    actions: list[str] = Field(default_factory=list)  # empty: nothing in review (ops)

    @model_validator(mode="after")
    def _names(self) -> Self:
        for i, name in enumerate(self.actions):
            if not re.match(ACTION_NAME, name):
                raise ValueError(f"actions[{i}]: {name!r} must be lower-case-with-hyphens")
        return self


class Limit(_Strict):
    max: int = Field(gt=0)
    per_seconds: int = Field(gt=0)


class SignInLimits(_Strict):
    """Failed console sign-ins allowed per fixed window, per account (the login typed)
    and per client address; past either, sign-in is refused until the window ends."""

    per_account: Limit = Field(default_factory=lambda: Limit(max=5, per_seconds=900))
    per_client: Limit = Field(default_factory=lambda: Limit(max=20, per_seconds=900))


class AccessRules(_Strict):
    """Who may do what. A role not listed may do nothing; a team listed in
    `restricted_teams` hides its cases from every role not named there."""

    roles: dict[Role, RoleRules] = Field(default_factory=dict)
    restricted_teams: dict[str, list[Role]] = Field(default_factory=dict)
    session_hours: int = Field(default=12, gt=0, le=24 * 7)
    sign_in: SignInLimits = Field(default_factory=SignInLimits)
    purge_seconds: int = Field(
        default=3600, gt=0, description="How often expired sessions and counters are removed."
    )
    # Who may be issued a staff assertion for another service (casework.assertions):
    # audience ("monitor", "notify") → roles.
    audiences: dict[str, list[Role]] = Field(default_factory=dict)
    # Outside review, the details of cases of these action types (page titles, failure
    # texts, subjects) are shown only to `confidential_roles`.
    confidential_action_types: list[str] = Field(default_factory=list)
    confidential_roles: list[Role] = Field(default_factory=list)

    def may_use(self, audience: str, roles: Iterable[str]) -> bool:
        return bool(set(self.audiences.get(audience, [])) & set(roles))

    def may_see_confidential(self, roles: Iterable[str]) -> bool:
        return bool(set(self.confidential_roles) & set(roles))

    def actions_of(self, role: Role) -> frozenset[str]:
        rules = self.roles.get(role)
        return frozenset(rules.actions) if rules else frozenset()

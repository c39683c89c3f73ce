"""The policy file's `monitor:` section: how long a case may wait between services before
the ops monitor raises an alert naming it.

`enforced_within_minutes`: an approved decision not enforced by then raises
`approved-not-enforced`; `told_within_minutes`: an enforced action whose affected user and
public were not told by then raises `enforced-not-told`. `action_types` sets other limits
for some action types (e.g. shorter for child protection).

Only the monitor reads it, so the monitor validates it (``rules_of``, called once while
wiring); the kernel keeps the section as a raw mapping.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from casework.policy import Policy, PolicyError, section_rules


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Limits for one action type; a limit left out is the section's default."""

    enforced_within_minutes: float | None = Field(default=None, gt=0)
    told_within_minutes: float | None = Field(default=None, gt=0)


class MonitorRules(_Strict):
    enforced_within_minutes: float = Field(
        default=15.0, gt=0, description="Approval to enforcement, before an alert."
    )
    told_within_minutes: float = Field(
        default=30.0, gt=0, description="Enforcement to telling the affected user or public."
    )
    action_types: dict[str, Limits] = Field(default_factory=dict)

    def enforce_limit(self, action_type: str) -> timedelta:
        own = self.action_types.get(action_type)
        minutes = own.enforced_within_minutes if own else None
        return timedelta(minutes=minutes or self.enforced_within_minutes)

    def tell_limit(self, action_type: str) -> timedelta:
        own = self.action_types.get(action_type)
        minutes = own.told_within_minutes if own else None
        return timedelta(minutes=minutes or self.told_within_minutes)


def rules_of(policy: Policy) -> MonitorRules:
    """The `monitor:` section validated, every action type it sets limits for known to the
    policy; otherwise a PolicyError naming the key and the rule."""
    rules = section_rules(policy, "monitor", MonitorRules)
    for name in rules.action_types:
        if name not in policy.action_types:
            raise PolicyError(f"monitor.action_types.{name}: unknown action type")
    return rules

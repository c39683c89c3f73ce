"""The policy file's `review:` section: the rules the review service applies.

In the kernel because more than one service reads it: ``casework.trust.ReviewAuthority``,
which enforcement and notify run on every signed review event, checks a sign-off chain
against ``expedited``, ``language_gate``, ``reversal_levels`` and ``reversal_approvals``.
"""

from __future__ import annotations

from datetime import date
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(_Strict):
    """A span of time: exactly one of hours, days, business_days."""

    hours: int | None = Field(default=None, gt=0)
    days: int | None = Field(default=None, gt=0)
    business_days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [n for n in ("hours", "days", "business_days") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of hours, days, business_days")
        return self


class AtRisk(_Strict):
    """When a deadline is at risk: a fraction of its span before it, or hours before it."""

    fraction: float | None = Field(default=None, gt=0, lt=1)
    hours: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.fraction is None) == (self.hours is None):
            raise ValueError("give exactly one of fraction, hours")
        return self


class Expedited(_Strict):
    """Enforcement may proceed once these levels approved; the rest sign afterwards."""

    proceed_after: list[str] = Field(min_length=1)


class ReversalApprovals(_Strict):
    """How many distinct people must approve a reversal, by the length of the decision's
    sign-off chain: a decision several levels signed is not undone by one person."""

    single_level: int = Field(default=1, ge=1)
    multi_level: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _not_fewer_for_more_levels(self) -> Self:
        if self.multi_level < self.single_level:
            raise ValueError("multi_level may not be less than single_level")
        return self


class StepUp(_Strict):
    """A sign-off level whose signature needs a fresh, strong sign-in at the identity
    provider: within ``max_age_seconds`` before signing, and proven by an ``acr`` listed
    in ``acr_values`` (also what review asks the provider for) or an ``amr`` that names
    one of ``second_factors``."""

    max_age_seconds: int = Field(gt=0, le=86_400)
    acr_values: list[str] = Field(min_length=1)
    second_factors: list[str] = Field(
        default_factory=lambda: ["otp", "hwk", "swk", "sms", "mfa", "fido"]
    )


class ReviewRules(_Strict):
    # Someone fluent in the decision's language must approve before it is published.
    language_gate: bool = True
    # Public holidays skipped by business-day deadlines (DMCA), besides weekends.
    holidays: list[date] = Field(default_factory=list)
    at_risk: AtRisk = Field(default_factory=lambda: AtRisk(fraction=0.25))
    inquiry_deadline: Period = Field(default_factory=lambda: Period(business_days=10))
    expedited: dict[str, Expedited] = Field(default_factory=dict)
    # Sign-off levels whose holders may reverse an approved decision.
    reversal_levels: list[str] = Field(default_factory=lambda: ["ts-manager", "director"])
    # Distinct holders of a reversal level who must approve one reversal.
    reversal_approvals: ReversalApprovals = Field(default_factory=ReversalApprovals)
    # How often the deadline duty scans the stored due times.
    deadline_scan_seconds: float = Field(default=30.0, gt=0)
    # Sign-off levels that need a fresh, strong sign-in at the identity provider.
    step_up: dict[str, StepUp] = Field(default_factory=dict)

    def reversal_approvals_needed(self, chain_length: int) -> int:
        """Distinct approvers a reversal of a decision with this many sign-off levels needs.

        Review applies it before reversing; enforcement and notify check the approvals
        a DecisionReversed carries against it."""
        rule = self.reversal_approvals
        return rule.multi_level if chain_length > 1 else rule.single_level

"""The policy file's `intake:` section: the rules the intake service applies.

Only intake reads it, so intake validates it (``rules_of``, called once while wiring); the
kernel keeps the section as a raw mapping.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from casework.policy import Policy, PolicyError, section_rules

# The statutory elements of a DMCA notice (17 U.S.C. § 512(c)(3)(A)); a policy may add
# descriptions and optional elements, never drop one of these.
DMCA_STATUTORY = (
    "copyrighted_work",
    "infringing_material",
    "locations",
    "contact_address",
    "good_faith_statement",
    "accuracy_statement",
    "signature",
)
KINDS = (
    "request",
    "dmca-notice",
    "child-protection-report",
    "appeal",
    "breach-report",
    "abuse-report",
    "inquiry",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bounds(_Strict):
    min_chars: int = Field(default=20, ge=1)
    max_chars: int = Field(default=5000, ge=1, le=20000)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_chars > self.max_chars:
            raise ValueError("min_chars must not exceed max_chars")
        return self


class KindRules(_Strict):
    """Where a kind of submission goes; `action_type` is implied when the submitter names none."""

    routed_to: str
    action_type: str | None = None
    urgent: bool = False
    summary: Bounds = Field(default_factory=Bounds)


class ScreeningRule(_Strict):
    """Case-insensitive regular expressions; a match flags the submission for human triage."""

    reason: str = Field(min_length=1)
    patterns: list[str] = Field(min_length=1)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from exc
        return patterns


class Limit(_Strict):
    max: int = Field(gt=0)
    per_seconds: int = Field(gt=0)


class RateLimits(_Strict):
    per_sender: Limit = Field(default_factory=lambda: Limit(max=60, per_seconds=3600))
    per_client: Limit = Field(default_factory=lambda: Limit(max=600, per_seconds=3600))
    # Mail per connecting client (the SMTP/LMTP peer), counted apart from the web's.
    mail_per_client: Limit = Field(default_factory=lambda: Limit(max=300, per_seconds=3600))
    # Answers to incomplete mail: per connecting client (over → the mail is deferred) and
    # at most one per address in a rolling window (later ones are recorded, not answered),
    # so forged mail cannot make intake flood someone else's mailbox.
    incomplete_per_client: Limit = Field(default_factory=lambda: Limit(max=30, per_seconds=3600))
    incomplete_answer_window_seconds: int = Field(default=86400, gt=0)


class Attachments(_Strict):
    max_count: int = Field(default=10, ge=0)
    max_bytes: int = Field(default=10_000_000, gt=0)
    content_types: list[str] = Field(
        default_factory=lambda: ["application/pdf", "image/png", "image/jpeg", "text/plain"]
    )


class Evidence(_Strict):
    max_url_chars: int = Field(default=2000, ge=10, le=2000)
    # Evidence of these classes must point at one of the configured wikis (WIKI_FARM).
    on_wiki: list[str] = Field(default_factory=lambda: ["on-wiki-public", "on-wiki-private"])


def _default_kinds() -> dict[str, KindRules]:
    return {
        "request": KindRules(routed_to="support-and-safety"),
        "dmca-notice": KindRules(routed_to="legal", action_type="dmca-takedown"),
        "child-protection-report": KindRules(
            routed_to="legal",
            action_type="child-protection",
            urgent=True,
            summary=Bounds(min_chars=1),
        ),
        "appeal": KindRules(routed_to="support-and-safety"),
        "breach-report": KindRules(routed_to="support-and-safety"),
        "abuse-report": KindRules(routed_to="legal"),
        "inquiry": KindRules(routed_to="support-and-safety", summary=Bounds(min_chars=1)),
    }


class IntakeRules(_Strict):
    kinds: dict[str, KindRules] = Field(default_factory=_default_kinds)
    # Element name → what the requester is told when it is missing.
    dmca_elements: dict[str, str] = Field(
        default_factory=lambda: {name: name.replace("_", " ") for name in DMCA_STATUTORY}
    )
    screening: dict[str, ScreeningRule] = Field(default_factory=dict)
    duplicate_window_days: int = Field(default=30, gt=0)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    attachments: Attachments = Field(default_factory=Attachments)
    evidence: Evidence = Field(default_factory=Evidence)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        missing_kinds = [k for k in KINDS if k not in self.kinds]
        if missing_kinds:
            raise ValueError(f"kinds: every kind needs rules; missing {', '.join(missing_kinds)}")
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise ValueError(
                f"kinds: unknown kind {', '.join(unknown)} (known: {', '.join(KINDS)})"
            )
        dropped = [e for e in DMCA_STATUTORY if e not in self.dmca_elements]
        if dropped:
            raise ValueError(f"dmca_elements: statutory elements missing: {', '.join(dropped)}")
        return self

    def kind(self, name: str) -> KindRules:
        return self.kinds[name]

    def references(self) -> list[tuple[str, str, str]]:
        """(key, what, name) of every team and action type this section names, to resolve."""
        out = []
        for kind, rules in self.kinds.items():
            out.append((f"intake.kinds.{kind}.routed_to", "team", rules.routed_to))
            if rules.action_type is not None:
                out.append((f"intake.kinds.{kind}.action_type", "action type", rules.action_type))
        return out


def rules_of(policy: Policy) -> IntakeRules:
    """The `intake:` section validated, every team and action type it names known to the
    policy; otherwise a PolicyError naming the key and the rule."""
    rules = section_rules(policy, "intake", IntakeRules)
    known = {"team": set(policy.teams), "action type": set(policy.action_types)}
    for key, what, name in rules.references():
        if name not in known[what]:
            raise PolicyError(
                f"{key}: unknown {what} {name!r} (known: {', '.join(sorted(known[what]))})"
            )
    return rules

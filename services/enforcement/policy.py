"""The policy file's `enforcement:` section: the rules the enforcement service applies.

Only enforcement reads it, so enforcement validates it (``rules_of``, called once while
wiring); the kernel keeps the section as a raw mapping.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from casework.policy import Policy, section_rules


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BlockFlags(_Strict):
    """MediaWiki block options (action=block): what a block of this kind prevents."""

    nocreate: bool = True
    autoblock: bool = True
    noemail: bool = False
    allow_usertalk: bool = True


class EnforcementRules(_Strict):
    sitewide_block: BlockFlags = Field(
        default_factory=BlockFlags, description="Global ban / global lock, on every farm wiki."
    )
    partial_block: BlockFlags = Field(
        default_factory=lambda: BlockFlags(nocreate=False, autoblock=False),
        description="Interaction ban pages/namespaces.",
    )
    office_protection: str = Field(
        default="sysop",
        pattern=r"^[a-z-]{1,64}$",
        description="Protection level when a content decision names none.",
    )
    first: list[str] = Field(
        default_factory=lambda: ["child-protection"],
        description="Action types enforced before every other (highest priority first).",
    )
    retry_max_seconds: float = Field(
        default=3600.0, gt=0, description="Cap of the backoff between attempts of an operation."
    )


def rules_of(policy: Policy) -> EnforcementRules:
    """The `enforcement:` section validated, or a PolicyError naming the key and the rule."""
    return section_rules(policy, "enforcement", EnforcementRules)

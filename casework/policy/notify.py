"""The policy file's `notify:` section: the rules the notify service applies.

`baseline` names, per question of DESIGN.md §4, the audiences that always get
the answer whatever a decision's disclosure plan says (a decision may release
more, never less). `confidential_action_types` never get a public statement.
`dsa` maps action types onto the DSA Transparency Database's enumerations: an
action type without an entry produces no statement of reasons (it restricts
nothing online, e.g. a conduct warning).

In the kernel because more than one service reads it: besides notify, review's case
outcome and the monitor's stall checks read its rules of who is told what.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from casework.contract.common import Audience
from casework.contract.decision import Question

EU_COUNTRIES = (
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DsaMapping(_Strict):
    """How one action type is described in a statement of reasons."""

    decision_account: str | None = Field(default=None, pattern=r"^DECISION_ACCOUNT_[A-Z_]+$")
    decision_visibility: list[str] = Field(default_factory=list)
    decision_provision: str | None = Field(default=None, pattern=r"^DECISION_PROVISION_[A-Z_]+$")
    decision_ground: str = Field(pattern=r"^DECISION_GROUND_(ILLEGAL|INCOMPATIBLE)_CONTENT$")
    category: str = Field(pattern=r"^STATEMENT_CATEGORY_[A-Z_]+$")
    category_specification: list[str] = Field(default_factory=list)
    content_type: list[str] = Field(min_length=1)
    source_type: str = Field(pattern=r"^SOURCE_[A-Z_0-9]+$")
    illegal_content_legal_ground: str = ""


class DsaRules(_Strict):
    territorial_scope: list[str] = Field(default_factory=lambda: list(EU_COUNTRIES))
    platform_url: str = Field(default="https://officeactions.test", pattern=r"^https?://\S+$")
    action_types: dict[str, DsaMapping] = Field(default_factory=dict)


class NotifyRules(_Strict):
    baseline: dict[Question, list[Audience]] = Field(default_factory=dict)
    confidential_action_types: list[str] = Field(default_factory=list)
    dsa: DsaRules = Field(default_factory=DsaRules)

    def statement_withheld(self, action_type: str, public_statement: bool) -> bool:
        """No public statement of an enforcement: the decision's plan says none, or its type
        is confidential here (review and the monitor expect nothing on the log page then)."""
        return not public_statement or action_type in self.confidential_action_types

"""The policy file's `enforcement:` section: the rules the enforcement service applies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class EnforcementRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

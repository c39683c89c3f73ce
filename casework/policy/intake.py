"""The policy file's `intake:` section: the rules the intake service applies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class IntakeRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

"""The policy file's `notify:` section: the rules the notify service applies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class NotifyRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

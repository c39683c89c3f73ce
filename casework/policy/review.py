"""The policy file's `review:` section: the rules the review service applies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ReviewRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

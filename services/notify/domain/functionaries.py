"""Per-wiki liaisons and functionaries under NDA (read from FUNCTIONARIES_FILE by
services/notify/adapters/functionaries.py).

wikis:
  sandbox:
    language: en
    addresses: [functionaries@sandbox.test]
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from casework.contract.common import Email, Language, WikiId


class FunctionaryList(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    language: Language = "en"
    addresses: list[Email] = Field(min_length=1)


class Functionaries(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    wikis: dict[WikiId, FunctionaryList] = Field(default_factory=dict)

    def for_wikis(self, wikis: list[str]) -> dict[str, FunctionaryList]:
        """The lists to brief; an empty `wikis` (the whole farm) briefs every configured wiki."""
        chosen = wikis or sorted(self.wikis)
        return {w: self.wikis[w] for w in chosen if w in self.wikis}

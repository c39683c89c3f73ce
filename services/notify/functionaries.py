"""Per-wiki liaisons and functionaries under NDA, from a YAML file (FUNCTIONARIES_FILE).

wikis:
  sandbox:
    language: en
    addresses: [functionaries@sandbox.test]
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


class FunctionariesError(Exception):
    pass


def load_functionaries(path: Path | None) -> Functionaries:
    if path is None:
        return Functionaries()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Functionaries.model_validate(raw)
    except OSError as exc:
        raise FunctionariesError(f"{path}: cannot read: {exc.strerror}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise FunctionariesError(f"{path}: {exc}") from exc

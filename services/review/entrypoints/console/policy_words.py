"""The policy's own words on console pages, in the page's language (issue 18 §3).

Action titles, sign-off level titles and the clause catalogue come from the policy's
translations, which load_policy checked complete for every language it declares (English,
and a language the policy does not declare, read the English original). A decision's
grounds read as the decision said them: its own snapshot of the language where it keeps
one, else the current catalogue's translation while the catalogue is the version the
decision cites, else its English snapshot. An id the current policy no longer defines (a
level since removed, on an old sign-off) is shown as the id: it is all that is known.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from casework.contract import ClauseGround
from casework.policy import Policy
from casework.policy.translations import SOURCE_LANGUAGE


class ClauseWords(BaseModel):
    """A clause as a page shows it: where it is from, its section and its words."""

    model_config = ConfigDict(frozen=True)

    source: str
    section: str
    text: str


class PolicyWords:
    """Templates get one (``words``) and call it with the page's ``lang``."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def action(self, language: str, action_type: str) -> str:
        if action_type not in self.policy.action_types:
            return action_type
        return self.policy.text(language, "action_types", action_type)

    def level(self, language: str, level: str) -> str:
        if level not in self.policy.signoff_levels:
            return level
        return self.policy.text(language, "signoff_levels", level)

    def levels(self, language: str, levels: Iterable[str]) -> list[str]:
        return [self.level(language, lvl) for lvl in levels]

    def clause(self, language: str, clause_id: str) -> ClauseWords:
        """A clause of the current catalogue."""
        fields = ("source", "section", "text")
        return ClauseWords(
            **{f: self.policy.text(language, "clauses", clause_id, f) for f in fields}
        )

    def ground(self, language: str, ground: ClauseGround) -> ClauseWords:
        """A clause a decision rests on, as the decision said it in ``language``."""
        short = language.split("-")[0]
        english = ClauseWords(source=ground.source, section=ground.section, text=ground.text)
        if short == SOURCE_LANGUAGE or short not in self.policy.translations:
            return english
        snapshot = ground.translations.get(short)  # none on decisions drafted before
        if snapshot is not None:
            return ClauseWords(source=snapshot.source, section=snapshot.section, text=snapshot.text)
        current = ground.catalogue_version == self.policy.clauses.version
        if current and ground.id in self.policy.clauses.items:
            return self.clause(language, ground.id)
        return english

"""The policy's own words on console pages, in the page's language (issue 18 §3).

Action titles, sign-off level titles and the clause catalogue come from the policy's
translations, which load_policy checked complete for every language it declares (English,
and a language the policy does not declare, read the English original). A decision's
grounds read as the decision said them (casework.policy.grounds). An id the current policy
no longer defines (a level since removed, on an old sign-off) is shown as the id: it is all
that is known.
"""

from __future__ import annotations

from collections.abc import Iterable

from casework.contract.decision import ClauseGround, ClauseText
from casework.policy import Policy
from casework.policy.grounds import clause_words, ground_words


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

    def clause(self, language: str, clause_id: str) -> ClauseText:
        """A clause of the current catalogue."""
        return clause_words(self.policy, language, clause_id)

    def ground(self, language: str, ground: ClauseGround) -> ClauseText:
        """A clause a decision rests on, as the decision said it in ``language``."""
        return ground_words(ground, self.policy, language)

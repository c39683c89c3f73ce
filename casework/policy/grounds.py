"""A clause a decision rests on, in a reader's language, as the decision said it.

Every output (notify's views, the review console) reads a decision's grounds through this
one rule: the decision's own snapshot of the language (English is the ground's own fields);
for a decision drafted before snapshots were kept, or before the policy gave the language,
the current catalogue's translation only while the catalogue is the version the decision
cites (an older catalogue's clause may have said something else), else the English snapshot.
"""

from __future__ import annotations

from casework.contract.decision import ClauseGround, ClauseText
from casework.policy import Policy
from casework.policy.translations import FIELDS


def clause_words(policy: Policy, language: str, clause_id: str) -> ClauseText:
    """A clause of the policy's current catalogue in ``language`` (``Policy.text``)."""
    return ClauseText(
        **{f: policy.text(language, "clauses", clause_id, f) for f in FIELDS["clauses"]}
    )


def ground_words(ground: ClauseGround, policy: Policy, language: str) -> ClauseText:
    """``ground``'s words in ``language`` (a tag such as ``ru-RU`` reads ``ru``)."""
    short = language.split("-")[0]
    snapshot = ground.translations.get(language) or ground.translations.get(short)
    if snapshot is not None:
        return snapshot
    current = ground.catalogue_version == policy.clauses.version
    if current and ground.id in policy.clauses.items and short in policy.translations:
        return clause_words(policy, language, ground.id)
    return ClauseText(source=ground.source, section=ground.section, text=ground.text)

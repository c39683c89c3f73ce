"""The policy's own words in every language it declares, checked complete at start-up.

Every output is written in its audience's language, so the strings the policy itself
supplies (action titles, sign-off level titles, the clause catalogue, the standard refusal
grounds) must exist in each declared language: a missing one is a policy error naming the
key and the language, never a silent fall back to English. The rest of the file is the
English original (``SOURCE_LANGUAGE``); adding a language is data alone.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SOURCE_LANGUAGE = "en"

# The standard grounds for an answer withheld without grounds of its own, keyed for their
# translations. The English texts are fixed: the contract writes the second one itself
# (casework/contract/decision.py's default disclosure plan) and events carry it as is.
REFUSALS: dict[str, str] = {
    "no-grounds": "no grounds recorded",
    "no-disclosure-decision": "no disclosure decision recorded",
}

# What each group's entries must translate, by group; "refusals" maps a key to its text.
FIELDS: dict[str, tuple[str, ...]] = {
    "action_types": ("title",),
    "signoff_levels": ("title",),
    "clauses": ("source", "section", "text"),
}
GROUP_NOUN = {
    "action_types": "action type",
    "signoff_levels": "sign-off level",
    "clauses": "clause",
    "refusals": "refusal",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TitleText(_Strict):
    # Optional so a missing one is reported by ``missing`` with the language, not by pydantic.
    title: str | None = Field(default=None, min_length=1)


class ClauseText(_Strict):
    source: str | None = Field(default=None, min_length=1)
    section: str | None = Field(default=None, min_length=1)
    text: str | None = Field(default=None, min_length=1)


class LanguageTexts(_Strict):
    """One language's words for the policy's strings, keyed by the ids the file defines."""

    action_types: dict[str, TitleText] = Field(default_factory=dict)
    signoff_levels: dict[str, TitleText] = Field(default_factory=dict)
    clauses: dict[str, ClauseText] = Field(default_factory=dict)
    refusals: dict[str, str | None] = Field(default_factory=dict)

    def get(self, group: str, key: str, field: str | None) -> str | None:
        entries: dict[str, BaseModel] | dict[str, str | None] = getattr(self, group)
        entry = entries.get(key)
        if entry is None or isinstance(entry, str):
            return entry
        value: str | None = getattr(entry, field or "", None)
        return value


def problems(language: str, texts: LanguageTexts | None, ids: dict[str, set[str]]) -> list[str]:
    """Every missing or unknown key of ``language``'s translations; ``ids`` are the ids the
    file defines per group."""
    found: list[str] = []
    prefix = f"translations.{language}"
    for group, known in ids.items():
        given = set(getattr(texts, group)) if texts is not None else set()
        for key in sorted(given - known):
            found.append(f"{prefix}.{group}.{key}: unknown {GROUP_NOUN[group]} {key!r}")
        for key in sorted(known):
            for field in FIELDS.get(group, (None,)):
                value = texts.get(group, key, field) if texts is not None else None
                if value is None or not value.strip():
                    where = f"{prefix}.{group}.{key}" + (f".{field}" if field else "")
                    found.append(
                        f"{where}: missing (every {GROUP_NOUN[group]} needs a {language} "
                        "translation)"
                    )
    return found

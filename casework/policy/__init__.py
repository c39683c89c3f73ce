"""The office actions policy, loaded from YAML and validated at start-up.

The kernel validates what every service reads: the sign-off levels, teams, action types
and clauses, and the shared sections (``access``, ``notify``, and ``review``, whose
sign-off rules the trust checks of enforcement and notify apply). The sections of one
service (``intake``, ``enforcement``, ``monitor``) are kept here as raw mappings, so the
file's layout stays one document and an unknown top-level key is still refused; each is
validated by its service's ``policy.rules_of`` while the service is wired
(``section_rules``), so a bad section stops only the service that reads it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from casework.policy.access import AccessRules
from casework.policy.notify import NotifyRules
from casework.policy.review import ReviewRules
from casework.policy.translations import REFUSALS, SOURCE_LANGUAGE, LanguageTexts, problems

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
# The sections one service reads and validates (see the module docstring).
SERVICE_SECTIONS = ("intake", "enforcement", "monitor")


class PolicyError(Exception):
    """The policy file is unreadable or breaks a rule; the message names file, key and rule."""


class Enforcement(StrEnum):
    SITEWIDE_BLOCK = "sitewide-block"
    PARTIAL_BLOCK = "partial-block"
    RIGHTS_REMOVAL = "rights-removal"
    CONTENT_REMOVAL = "content-removal"
    PAGE_PROTECTION = "page-protection"
    RECORD_ONLY = "record-only"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignoffLevel(_Strict):
    title: str = Field(min_length=1)


class Team(_Strict):
    title: str = Field(min_length=1)
    address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class Deadline(_Strict):
    hours: int | None = Field(default=None, gt=0)
    days: int | None = Field(default=None, gt=0)
    business_days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [n for n in ("hours", "days", "business_days") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of hours, days, business_days")
        return self

    def due(self, start: datetime) -> datetime:
        if self.hours is not None:
            return start + timedelta(hours=self.hours)
        if self.days is not None:
            return start + timedelta(days=self.days)
        assert self.business_days is not None
        return add_business_days(start, self.business_days)


class ActionType(_Strict):
    title: str = Field(min_length=1)
    routed_to: str
    signoff: list[str] = Field(min_length=1)
    deadline: Deadline | None = None
    appealable: bool
    appeal_window_days: int | None = Field(default=None, gt=0)
    requires_prior_attempts: bool
    enforcement: Enforcement
    # An approving sign-off is refused while the decision cites no evidence.
    evidence_required: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.signoff)) != len(self.signoff):
            raise ValueError("signoff: a level may appear only once")
        if self.appealable and self.appeal_window_days is None:
            raise ValueError("appeal_window_days: required when appealable is true")
        if not self.appealable and self.appeal_window_days is not None:
            raise ValueError("appeal_window_days: only allowed when appealable is true")
        return self


class Clause(_Strict):
    source: str = Field(min_length=1)
    section: str = Field(min_length=1)
    text: str = Field(min_length=1)


class ClauseCatalogue(_Strict):
    version: str = Field(min_length=1)
    items: dict[str, Clause] = Field(min_length=1)


class Policy(_Strict):
    version: str = Field(min_length=1)
    signoff_levels: dict[str, SignoffLevel] = Field(min_length=1)
    teams: dict[str, Team] = Field(min_length=1)
    action_types: dict[str, ActionType] = Field(min_length=1)
    clauses: ClauseCatalogue
    # The languages the policy's own strings are given in: the file is written in English,
    # every other one is in ``translations`` (casework/policy/translations.py).
    languages: list[str] = Field(default_factory=lambda: [SOURCE_LANGUAGE], min_length=1)
    translations: dict[str, LanguageTexts] = Field(default_factory=dict)
    # The sections more than one service reads, validated here.
    review: ReviewRules = Field(default_factory=ReviewRules)
    notify: NotifyRules = Field(default_factory=NotifyRules)
    access: AccessRules = Field(default_factory=AccessRules)
    # One service's sections, validated by that service (``section_rules``).
    intake: dict[str, Any] = Field(default_factory=dict)
    enforcement: dict[str, Any] = Field(default_factory=dict)
    monitor: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        for group in ("signoff_levels", "teams", "action_types"):
            for key in getattr(self, group):
                if not re.match(SLUG, key):
                    raise ValueError(f"{group}.{key}: ids must be lower-case-with-hyphens")
        for name, action in self.action_types.items():
            if action.routed_to not in self.teams:
                raise ValueError(
                    f"action_types.{name}.routed_to: unknown team {action.routed_to!r} "
                    f"(known: {', '.join(sorted(self.teams))})"
                )
            for i, level in enumerate(action.signoff):
                if level not in self.signoff_levels:
                    raise ValueError(
                        f"action_types.{name}.signoff[{i}]: unknown sign-off level {level!r} "
                        f"(known: {', '.join(sorted(self.signoff_levels))})"
                    )
        return self

    @model_validator(mode="after")
    def _translations_complete(self) -> Self:
        if SOURCE_LANGUAGE not in self.languages:
            raise ValueError(f"languages: must include {SOURCE_LANGUAGE!r}, the file's own")
        if len(set(self.languages)) != len(self.languages):
            raise ValueError("languages: a language may appear only once")
        for language in self.translations:
            if language == SOURCE_LANGUAGE or language not in self.languages:
                raise ValueError(
                    f"translations.{language}: not a language to translate into "
                    f"(languages other than {SOURCE_LANGUAGE}: "
                    f"{', '.join(x for x in self.languages if x != SOURCE_LANGUAGE) or 'none'})"
                )
        ids = {
            "action_types": set(self.action_types),
            "signoff_levels": set(self.signoff_levels),
            "clauses": set(self.clauses.items),
            "refusals": set(REFUSALS),
        }
        found = [
            problem
            for language in self.languages
            if language != SOURCE_LANGUAGE
            for problem in problems(language, self.translations.get(language), ids)
        ]
        if found:
            raise ValueError("; ".join(found))
        return self

    def action(self, name: str) -> ActionType:
        return self.action_types[name]

    def text(self, language: str, group: str, key: str, field: str | None = None) -> str:
        """One of the policy's own strings in ``language`` (a tag such as ``ru-RU`` counts
        as ``ru``): the English original for English and for a language the policy does not
        declare (as the templates fall back to English); every declared one is complete.
        ``group`` is action_types, signoff_levels, clauses (``field`` source, section or
        text; the others' is title) or refusals (no field)."""
        short = language.split("-")[0]
        if short != SOURCE_LANGUAGE and short in self.translations:
            translated = self.translations[short].get(group, key, field or "title")
            if translated is not None:
                return translated
        return self._original(group, key, field or "title")

    def _original(self, group: str, key: str, field: str) -> str:
        if group == "refusals":
            return REFUSALS[key]
        if group == "clauses":
            value: str = getattr(self.clauses.items[key], field)
            return value
        entries: dict[str, SignoffLevel] | dict[str, ActionType] = getattr(self, group)
        return entries[key].title

    def section(self, name: str) -> Mapping[str, Any]:
        """One service's section as written in the file (read-only), for that service to
        validate."""
        if name not in SERVICE_SECTIONS:
            raise KeyError(f"{name!r} is not one service's section ({', '.join(SERVICE_SECTIONS)})")
        raw: dict[str, Any] = getattr(self, name)
        return MappingProxyType(raw)


Rules = TypeVar("Rules", bound=BaseModel)


def section_rules(policy: Policy, name: str, model: type[Rules]) -> Rules:
    """A service's section validated by its model; a PolicyError names the section, the key
    and the rule as ``load_policy`` does (the runtime adds the file)."""
    try:
        return model.model_validate(dict(policy.section(name)))
    except ValidationError as exc:
        raise PolicyError("; ".join(_describe(e, name) for e in exc.errors())) from exc


def add_business_days(start: datetime, days: int) -> datetime:
    """Monday to Friday count; the operator's public holidays are not modelled yet."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


def load_policy(path: Path) -> Policy:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: top level must be a mapping")
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(f"{path}: " + "; ".join(_describe(e) for e in exc.errors())) from exc


def _describe(error: Any, section: str | None = None) -> str:
    loc = (section, *error["loc"]) if section else error["loc"]
    key = ".".join(str(part) for part in loc) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{key}: {message}"

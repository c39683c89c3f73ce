"""The office actions policy, loaded from YAML and validated at start-up."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from casework.policy.access import AccessRules
from casework.policy.enforcement import EnforcementRules
from casework.policy.intake import IntakeRules
from casework.policy.monitor import MonitorRules
from casework.policy.notify import NotifyRules
from casework.policy.review import ReviewRules

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


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
    # One section per service, each owned by that service's module.
    intake: IntakeRules = Field(default_factory=IntakeRules)
    review: ReviewRules = Field(default_factory=ReviewRules)
    enforcement: EnforcementRules = Field(default_factory=EnforcementRules)
    notify: NotifyRules = Field(default_factory=NotifyRules)
    access: AccessRules = Field(default_factory=AccessRules)
    monitor: MonitorRules = Field(default_factory=MonitorRules)

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
        for name in self.monitor.action_types:
            if name not in self.action_types:
                raise ValueError(f"monitor.action_types.{name}: unknown action type")
        return self

    def action(self, name: str) -> ActionType:
        return self.action_types[name]


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


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{key}: {message}"

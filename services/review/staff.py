"""The staff directory: who may sign which level, in which languages. Loaded from YAML.

Tokens are never stored in clear: the file holds their SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casework.contract import Language
from casework.policy import Policy


class StaffDirectoryError(Exception):
    pass


class StaffMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    name: Annotated[str, Field(min_length=1)]
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    levels: list[str]
    languages: list[Language] = Field(min_length=1)
    wiki_accounts: list[str] = []
    token_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class StaffDirectory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    staff: list[StaffMember] = Field(min_length=1)

    def by_token(self, token: str) -> StaffMember | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        for member in self.staff:
            if hmac.compare_digest(member.token_sha256, digest):
                return member
        return None


def load_staff(path: Path, policy: Policy) -> StaffDirectory:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        directory = StaffDirectory.model_validate(raw)
    except OSError as exc:
        raise StaffDirectoryError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise StaffDirectoryError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise StaffDirectoryError(f"{path}: {problems}") from exc
    seen: set[str] = set()
    for i, member in enumerate(directory.staff):
        if member.id in seen:
            raise StaffDirectoryError(f"{path}: staff.{i}.id: duplicate id {member.id!r}")
        seen.add(member.id)
        for level in member.levels:
            if level not in policy.signoff_levels:
                raise StaffDirectoryError(
                    f"{path}: staff.{i}.levels: unknown sign-off level {level!r} "
                    f"(known: {', '.join(sorted(policy.signoff_levels))})"
                )
    return directory

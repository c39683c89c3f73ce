"""The staff file: a YAML staff directory, read and checked against the policy. It seeds an
empty store and is what `python -m services.review.staff import` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from casework.policy import Policy
from services.review.domain.staff import StaffDirectory, StaffDirectoryError, policy_problem


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
        problem = policy_problem(member, policy)
        if problem is not None:
            raise StaffDirectoryError(f"{path}: staff.{i}.{problem[0]}: {problem[1]}")
    return directory

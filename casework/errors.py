"""Domain-level rejections: which field broke which rule. Free of I/O; HTTP maps them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class FieldError:
    field: str
    rule: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class Kind(StrEnum):
    INVALID = "invalid"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    UNAUTHENTICATED = "unauthenticated"


class Rejected(Exception):
    """A command that breaks a rule. Nothing was changed."""

    def __init__(self, kind: Kind, code: str, errors: list[FieldError]) -> None:
        super().__init__(f"{code}: " + "; ".join(f"{e.field}: {e.message}" for e in errors))
        self.kind = kind
        self.code = code
        self.errors = errors

    @classmethod
    def one(cls, kind: Kind, code: str, field: str, rule: str, message: str) -> Rejected:
        return cls(kind, code, [FieldError(field, rule, message)])

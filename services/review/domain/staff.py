"""The staff directory: who staff are, their roles, the levels they may sign and in which
languages, and their credentials. Kept in review's store (services/review/auth/directory.py);
a YAML file (adapters/staff_file.py) seeds an empty store and is what `python -m
services.review.staff import` reads (see services/review/auth/manage.py).

Nothing secret is stored in clear: passwords as scrypt hashes, API tokens as their
SHA-256 (tokens are 256-bit random, so a fast hash is enough for them).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from casework.contract import AwareDatetime, Language
from casework.policy import Policy
from casework.policy.access import Role
from services.review.auth.logins import login_key
from services.review.auth.passwords import is_password_hash, verify_password

log = logging.getLogger(__name__)

SHA256 = r"^[0-9a-f]{64}$"


class StaffDirectoryError(Exception):
    pass


SEEDED_TOKEN = "seeded"  # the name a staff file's `token_sha256` gets in the directory


class ApiToken(BaseModel):
    """One API token of a staff member: named (the name is its id within the member),
    revocable, with when it was made (unknown for tokens from before that was kept)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=64)]
    sha256: Annotated[str, Field(pattern=SHA256)]
    created_at: AwareDatetime | None = None
    created_by: str | None = None
    # Refused from then on; None for tokens issued before expiry was kept (and seeded ones).
    expires_at: AwareDatetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class StaffMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    name: Annotated[str, Field(min_length=1)]
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    levels: list[str]
    languages: list[Language] = Field(min_length=1)
    wiki_accounts: list[str] = []
    roles: list[Role] = []
    disabled: bool = Field(default=False, description="Signs in and calls the API no more.")
    # Credentials: never shown, never part of a dump that leaves the directory.
    password_hash: str | None = Field(None, repr=False)
    token_sha256: Annotated[str | None, Field(pattern=SHA256, repr=False)] = None
    tokens: list[ApiToken] = Field(default_factory=list, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _seeded_token_is_a_token(cls, data: Any) -> Any:
        """A staff file's single `token_sha256` becomes a named token like any other,
        listed and revocable (a malformed one is left for the field's own check)."""
        if not isinstance(data, dict):
            return data
        digest = data.get("token_sha256")
        if not (isinstance(digest, str) and re.fullmatch(SHA256, digest)):
            return data
        tokens = list(data.get("tokens") or [])
        names = {t.name if isinstance(t, ApiToken) else t.get("name") for t in tokens}
        name, n = SEEDED_TOKEN, 1
        while name in names:
            n += 1
            name = f"{SEEDED_TOKEN}-{n}"
        tokens.insert(0, {"name": name, "sha256": digest, "created_by": "staff file"})
        return {**data, "token_sha256": None, "tokens": tokens}

    @field_validator("password_hash")
    @classmethod
    def _hash_shape(cls, value: str | None) -> str | None:
        if value is not None and not is_password_hash(value):
            raise ValueError("must be a scrypt hash made by `python -m services.review.staff`")
        return value

    def holds_token(self, digest: str) -> bool:
        digests = [t.sha256 for t in self.tokens]
        if self.token_sha256:
            digests.append(self.token_sha256)
        # Compare against every digest so timing does not reveal which matched.
        return any([hmac.compare_digest(d, digest) for d in digests])

    def check_password(self, password: str) -> bool:
        return verify_password(password, self.password_hash)

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"password_hash", "token_sha256", "tokens"})


class StaffDirectory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    staff: list[StaffMember] = Field(min_length=1)

    def by_token(self, token: str) -> StaffMember | None:
        if not token:
            return None
        digest = token_digest(token)
        for member in self.staff:
            if member.holds_token(digest):
                return member
        return None

    def by_id(self, staff_id: str) -> StaffMember | None:
        return next((m for m in self.staff if m.id == staff_id), None)

    def by_login(self, login: str) -> StaffMember | None:
        """A staff member by id or e-mail address, compared as `login_key` has it (the
        sign-in throttle counts against the member found here)."""
        wanted = login_key(login)
        if not wanted:
            return None
        return next(
            (m for m in self.staff if wanted in (login_key(m.id), login_key(m.email))), None
        )


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def policy_problem(member: StaffMember, policy: Policy) -> tuple[str, str] | None:
    """The first field of ``member`` the policy does not admit, with why; None if none."""
    for level in member.levels:
        if level not in policy.signoff_levels:
            return (
                "levels",
                f"unknown sign-off level {level!r} "
                f"(known: {', '.join(sorted(policy.signoff_levels))})",
            )
    for role in member.roles:
        if role not in policy.access.roles:
            return (
                "roles",
                f"role '{role.value}' has no rules in the policy's access.roles "
                f"(defined: {', '.join(sorted(policy.access.roles)) or 'none'})",
            )
    return None


TOKEN_DAYS = 90  # a new token's life unless the admin picks its last day
TOKEN_MAX_DAYS = 366


def token_expiry(last_day: date | None, now: datetime) -> datetime:
    """When a token issued now stops working: the end (UTC) of ``last_day``, by default
    TOKEN_DAYS from today; ValueError unless that is today or later, within TOKEN_MAX_DAYS."""
    today = now.astimezone(UTC).date()
    last_day = last_day or today + timedelta(days=TOKEN_DAYS)
    if not today <= last_day <= today + timedelta(days=TOKEN_MAX_DAYS):
        raise ValueError(f"from today to {TOKEN_MAX_DAYS} days ahead")
    return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=UTC)

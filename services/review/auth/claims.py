"""Who an ID token names in review's staff directory. Pure, no I/O.

Matched by one configured claim: `sub` to the staff id, or `email` to the staff member's
e-mail address, only when the provider says the address is verified (else anyone who
can set an unverified address at the provider could take a staff member's account)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from services.review.auth.logins import login_key
from services.review.domain.staff import StaffDirectory, StaffMember

Claim = Literal["sub", "email"]


@dataclass(frozen=True)
class Match:
    member: StaffMember | None
    refusal: str  # "" when matched; else unknown | disabled | email_unverified | no_claim
    login: str  # the claim's value, for the sign-in audit
    staff_id: str | None = None  # who it named, even when refused (disabled)


def match_staff(directory: StaffDirectory, claims: dict[str, Any], claim: Claim) -> Match:
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        return Match(None, "no_claim", "")
    if claim == "email":
        if claims.get("email_verified") is not True:
            return Match(None, "email_unverified", value)
        wanted = login_key(value)
        member = next((m for m in directory.staff if login_key(m.email) == wanted), None)
    else:
        member = directory.by_id(value)
    if member is None:
        return Match(None, "unknown", value)
    if member.disabled:
        return Match(None, "disabled", value, member.id)
    return Match(member, "", value, member.id)

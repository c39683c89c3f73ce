"""Staff assertions: short-lived signed statements "this staff member, with these roles,
may use <audience>", issued by review (which holds the staff directory) and verified
offline by the monitor and notify with review's public keys.

A JWT (RFC 7519) signed with review's Ed25519 key (JWS alg ``Ed25519``, RFC 9864's
fully-specified name for EdDSA over Ed25519), ``kid`` = `casework.signing.key_id`, and the
claims ``iss`` (always `ISSUER`), ``aud``, ``sub`` (staff id), ``roles``, ``iat``, ``nbf``
and ``exp``. Pure apart from the clock the caller passes in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.jws import extract_compact

from casework.signing import key_id

ISSUER = "casework-review"
ALGORITHM = "Ed25519"
AUDIENCES = frozenset({"monitor", "notify"})
# API tokens live at most this long; a verifier refuses anything issued for longer.
MAX_LIFETIME = timedelta(minutes=10)
CLOCK_LEEWAY_SECONDS = 30


class AssertionRefused(ValueError):
    """A token that is malformed, not signed by a trusted review key, or not for us now."""


@dataclass(frozen=True)
class StaffAssertion:
    staff_id: str
    roles: tuple[str, ...]
    audience: str
    issued_at: datetime
    expires_at: datetime
    key_id: str

    def has_any(self, roles: Iterable[str]) -> bool:
        return bool(set(self.roles) & set(roles))


def issue(
    private_key: Ed25519PrivateKey,
    *,
    staff_id: str,
    roles: Iterable[str],
    audience: str,
    now: datetime,
    lifetime: timedelta = MAX_LIFETIME,
) -> tuple[str, datetime]:
    """A signed assertion and the moment it expires."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience: {audience!r} is not one of {sorted(AUDIENCES)}")
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError(f"lifetime: must be more than 0 and at most {MAX_LIFETIME}")
    issued = int(now.timestamp())
    expires = issued + int(lifetime.total_seconds())
    claims = {
        "iss": ISSUER,
        "aud": audience,
        "sub": staff_id,
        "roles": sorted(set(roles)),
        "iat": issued,
        "nbf": issued,
        "exp": expires,
    }
    header = {"alg": ALGORITHM, "typ": "JWT", "kid": key_id(private_key.public_key())}
    token = jwt.encode(header, claims, OKPKey.import_key(private_key), algorithms=[ALGORITHM])
    return token, datetime.fromtimestamp(expires, UTC)


def verify(
    token: str,
    trusted: Mapping[str, Ed25519PublicKey],
    *,
    audience: str,
    now: datetime,
) -> StaffAssertion:
    """The assertion in ``token``, or `AssertionRefused` saying why not."""
    kid = _key_id_of(token)
    public_key = trusted.get(kid)
    if public_key is None:
        raise AssertionRefused(f"kid: {kid!r} is not a trusted review key")
    moment = int(now.timestamp())
    registry = jwt.JWTClaimsRegistry(
        now=moment,
        leeway=CLOCK_LEEWAY_SECONDS,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
        nbf={"essential": True},
        iat={"essential": True},
        roles={"essential": True},
    )
    try:
        decoded = jwt.decode(token, OKPKey.import_key(public_key), algorithms=[ALGORITHM])
        registry.validate(decoded.claims)
    except JoseError as exc:
        raise AssertionRefused(f"token: {exc.error}: {exc.description or exc}") from exc
    except (ValueError, TypeError) as exc:
        raise AssertionRefused(f"token: malformed ({exc})") from exc
    claims = decoded.claims
    issued, expires = claims["iat"], claims["exp"]
    if not all(isinstance(v, int) for v in (issued, expires)):
        raise AssertionRefused("token: iat and exp must be whole seconds")
    if expires - issued > MAX_LIFETIME.total_seconds():
        raise AssertionRefused(f"exp: the token lives longer than {MAX_LIFETIME}")
    if issued > moment + CLOCK_LEEWAY_SECONDS:
        raise AssertionRefused("iat: issued in the future")
    roles = claims["roles"]
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AssertionRefused("roles: must be a list of role names")
    return StaffAssertion(
        staff_id=str(claims["sub"]),
        roles=tuple(roles),
        audience=audience,
        issued_at=datetime.fromtimestamp(issued, UTC),
        expires_at=datetime.fromtimestamp(expires, UTC),
        key_id=kid,
    )


def _key_id_of(token: str) -> str:
    try:
        header: dict[str, Any] = extract_compact(token.encode("ascii")).protected
    except (JoseError, ValueError, UnicodeEncodeError, json.JSONDecodeError) as exc:
        raise AssertionRefused("token: not a compact JWS") from exc
    if header.get("alg") != ALGORITHM:
        raise AssertionRefused(f"alg: must be {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise AssertionRefused("kid: missing")
    return kid

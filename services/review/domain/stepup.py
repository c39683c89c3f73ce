"""Step-up for sign-off: does the way a signer authenticated satisfy the policy's rule for
the level they sign? Pure, no I/O: the console asks it before sending the signer back
through the identity provider, and the sign-off itself enforces it."""

from __future__ import annotations

from datetime import datetime, timedelta

from casework.contract.decision import SignerAuthentication
from casework.errors import Kind, Rejected
from casework.policy.review import StepUp

TOKEN = SignerAuthentication(method="token")


def step_up_shortfall(
    rule: StepUp | None, authentication: SignerAuthentication | None, now: datetime
) -> str | None:
    """Why this authentication is not enough to sign under ``rule``; None when it is
    (or when the level has no rule)."""
    if rule is None:
        return None
    if authentication is None or authentication.method != "oidc":
        method = authentication.method if authentication else "unknown"
        return f"a {method} sign-in is not a fresh strong authentication at the identity provider"
    if authentication.auth_time is None:
        return "the identity provider did not say when the signer authenticated"
    age = now - authentication.auth_time
    if age > timedelta(seconds=rule.max_age_seconds):
        return (
            f"the last sign-in at the identity provider was {int(age.total_seconds())} s ago;"
            f" this level needs one within {rule.max_age_seconds} s"
        )
    if authentication.acr in rule.acr_values:
        return None
    if set(authentication.amr) & set(rule.second_factors):
        return None
    return (
        f"the sign-in was not strong enough (acr {authentication.acr or 'none'},"
        f" amr {', '.join(authentication.amr) or 'none'}): this level needs a second factor"
    )


def check_step_up(
    rule: StepUp | None, authentication: SignerAuthentication | None, now: datetime
) -> None:
    """Refuse (403, field `authentication`, rule `fresh_strong_authentication`)."""
    shortfall = step_up_shortfall(rule, authentication, now)
    if shortfall is not None:
        raise Rejected.one(
            Kind.FORBIDDEN,
            "step_up_required",
            "authentication",
            "fresh_strong_authentication",
            f"signing this level needs a fresh sign-in with a second factor: {shortfall}",
        )

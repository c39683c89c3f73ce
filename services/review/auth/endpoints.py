"""Which action every endpoint needs: the one table the access middleware applies.

An endpoint missing from the table is refused to everyone (and the table-driven test
fails for it), so a new route cannot go out without a rule. `SIGNED_IN` endpoints
need a staff identity but no particular action (the page itself checks what to show).
"""

from __future__ import annotations

from enum import StrEnum

from services.review.domain.permissions import Action


class Open(StrEnum):
    PUBLIC = "public"
    SIGNED_IN = "signed-in"


Rule = Action | Open

CASE = "/api/v1/cases/{case_id}"
PAGE = "/console/cases/{case_id}"
STAFF = "/api/v1/staff/{staff_id}"
STAFF_PAGE = "/console/staff/{staff_id}"
PUBLIC = Open.PUBLIC
SIGNED_IN = Open.SIGNED_IN

RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/livez"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # JSON API (services/review/entrypoints/routes.py)
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/api/v1/cases"): Action.READ_QUEUE,
    ("POST", "/api/v1/cases"): Action.OPEN_CASE,
    ("GET", CASE): Action.READ_CASE,
    ("PUT", CASE + "/assignee"): Action.ASSIGN_CASE,
    ("POST", CASE + "/notes"): Action.ADD_NOTE,
    ("POST", CASE + "/evidence"): Action.ADD_EVIDENCE,
    ("POST", CASE + "/links"): Action.LINK_CASES,
    ("POST", CASE + "/merge"): Action.MERGE_DUPLICATE,
    ("PUT", CASE + "/waiting"): Action.SET_WAITING,
    ("PUT", CASE + "/decision"): Action.DRAFT_DECISION,
    ("PUT", CASE + "/determination"): Action.RECORD_DETERMINATION,
    ("POST", CASE + "/signoffs"): Action.SIGN_OFF,
    ("POST", CASE + "/reversal"): Action.REVERSE_DECISION,
    ("DELETE", CASE + "/reversal"): Action.REVERSE_DECISION,
    ("POST", CASE + "/inquiry-answers"): Action.ANSWER_INQUIRY,
    ("POST", CASE + "/restorations"): Action.ORDER_RESTORATION,
    ("POST", CASE + "/retries"): Action.ORDER_RESTORATION,
    # Staff management (services/review/entrypoints/staff_api.py)
    ("GET", "/api/v1/staff"): Action.MANAGE_STAFF,
    ("POST", "/api/v1/staff"): Action.MANAGE_STAFF,
    ("GET", "/api/v1/staff-changes"): Action.MANAGE_STAFF,
    ("GET", STAFF): Action.MANAGE_STAFF,
    ("PUT", STAFF): Action.MANAGE_STAFF,
    ("PUT", STAFF + "/disabled"): Action.MANAGE_STAFF,
    ("GET", STAFF + "/tokens"): Action.MANAGE_STAFF,
    ("POST", STAFF + "/tokens"): Action.MANAGE_STAFF,
    ("DELETE", STAFF + "/tokens/{name}"): Action.MANAGE_STAFF,
    ("POST", STAFF + "/password-link"): Action.MANAGE_STAFF,
    # Console
    ("GET", "/console/static"): PUBLIC,
    ("GET", "/console/login"): PUBLIC,
    ("POST", "/console/login"): PUBLIC,
    ("POST", "/console/logout"): SIGNED_IN,
    # Sign-in through the identity provider (entrypoints/console/oidc_routes.py); the
    # step-up is for someone signed in, about to sign a level that needs it.
    ("GET", "/console/oidc/login"): PUBLIC,
    ("GET", "/console/oidc/callback"): PUBLIC,
    ("GET", "/console/oidc/step-up"): SIGNED_IN,
    ("GET", "/console/oidc/step-up/go"): SIGNED_IN,
    # Signed staff assertions for the monitor and notify
    # (services/review/entrypoints/assertions.py); the handler checks the policy's
    # access.audiences for the member's roles.
    ("POST", "/api/v1/assertions"): SIGNED_IN,
    ("GET", "/console/handoff"): SIGNED_IN,
    ("GET", "/console"): Action.READ_QUEUE,
    ("GET", PAGE): Action.READ_CASE,
    ("POST", PAGE + "/decision"): Action.DRAFT_DECISION,
    ("POST", PAGE + "/signoffs"): Action.SIGN_OFF,
    ("POST", PAGE + "/determination"): Action.RECORD_DETERMINATION,
    ("POST", PAGE + "/notes"): Action.ADD_NOTE,
    ("POST", PAGE + "/restorations"): Action.ORDER_RESTORATION,
    ("POST", PAGE + "/retries"): Action.ORDER_RESTORATION,
    ("POST", PAGE + "/assignee"): Action.ASSIGN_CASE,
    ("POST", PAGE + "/evidence"): Action.ADD_EVIDENCE,
    ("POST", PAGE + "/links"): Action.LINK_CASES,
    ("POST", PAGE + "/merge"): Action.MERGE_DUPLICATE,
    ("POST", PAGE + "/waiting"): Action.SET_WAITING,
    ("POST", PAGE + "/reversal"): Action.REVERSE_DECISION,
    ("POST", PAGE + "/reversal/withdraw"): Action.REVERSE_DECISION,
    ("POST", PAGE + "/inquiry-answers"): Action.ANSWER_INQUIRY,
    ("GET", "/console/staff"): Action.MANAGE_STAFF,
    ("POST", "/console/staff"): Action.MANAGE_STAFF,
    ("GET", STAFF_PAGE): Action.MANAGE_STAFF,
    ("POST", STAFF_PAGE): Action.MANAGE_STAFF,
    ("POST", STAFF_PAGE + "/disabled"): Action.MANAGE_STAFF,
    ("POST", STAFF_PAGE + "/tokens"): Action.MANAGE_STAFF,
    ("POST", STAFF_PAGE + "/tokens/revoke"): Action.MANAGE_STAFF,
    ("POST", STAFF_PAGE + "/password-link"): Action.MANAGE_STAFF,
    # The one-time link is the credential: whoever holds it sets that one password.
    ("GET", "/console/password/{token}"): PUBLIC,
    ("POST", "/console/password/{token}"): PUBLIC,
}


# Served only when an identity provider is configured (REVIEW_OIDC_ISSUER).
WITH_IDENTITY_PROVIDER = frozenset(
    {
        ("GET", "/console/oidc/login"),
        ("GET", "/console/oidc/callback"),
        ("GET", "/console/oidc/step-up"),
        ("GET", "/console/oidc/step-up/go"),
    }
)


def rule_for(method: str, path: str) -> Rule | None:
    """The rule for a route; HEAD is served by GET handlers and follows their rule."""
    return RULES.get(("GET" if method == "HEAD" else method, path))

"""Authorisation for every endpoint and every role: role × endpoint → allowed or 403, and
401 (or the console's sign-in redirect) without credentials.

The endpoints come from the app's own route table, so a route added without an access
rule fails here. Review runs in this process over real HTTP and SQLite, built by its
own `wire` (tests/test_review_auth_support.py)."""

from __future__ import annotations

import aiohttp

from casework.policy.access import Role
from services.review.auth.endpoints import RULES, WITH_IDENTITY_PROVIDER, Open, rule_for
from services.review.auth.policy import action_name
from services.review.domain.opening import case_id_for
from services.review.domain.permissions import Action
from tests.review_support import module_review_with_a_case  # noqa: F401 (the review fixture)
from tests.test_review_auth_support import (
    POLICY,
    ROLES_TO_STAFF,
    Review,
)

CASE_ID = case_id_for("R-ABCDEFGH2345")
Endpoint = tuple[str, str]


def endpoints(review: Review) -> list[Endpoint]:
    found = set()
    for route in review.app().router.routes():
        if route.method in ("HEAD", "*"):
            continue
        found.add((route.method, route.resource.canonical if route.resource else ""))
    return sorted(found)


# A real value for every path parameter; the bodies sent are empty, so no call changes
# anything beyond a one-time password link.
PARAMETERS = {"{case_id}": CASE_ID, "{staff_id}": "tess", "{name}": "ci", "{token}": "no-such"}


def concrete(path: str) -> str:
    if path == "/console/static":
        return "/console/static/console.css"
    for parameter, value in PARAMETERS.items():
        path = path.replace(parameter, value)
    return path


async def call(
    http: aiohttp.ClientSession, review: Review, endpoint: Endpoint, headers: dict[str, str]
) -> tuple[int, str]:
    method, path = endpoint
    url = review.url + concrete(path)
    kwargs: dict[str, object] = {"headers": headers, "allow_redirects": False}
    if method in ("POST", "PUT"):
        if path.startswith("/console"):
            kwargs["data"] = {"nothing": ""}
        else:
            kwargs["json"] = {}
    async with http.request(method, url, **kwargs) as reply:  # type: ignore[arg-type]
        return reply.status, await reply.text()


async def test_every_route_has_an_access_rule(review: Review) -> None:
    table = endpoints(review)
    assert len(table) >= 20
    missing = [f"{m} {p}" for m, p in table if rule_for(m, p) is None]
    assert missing == [], "routes without a rule in services/review/auth/endpoints.py"
    # The OIDC routes are served only with an identity provider (this review has none);
    # tests/test_review_oidc.py checks them on a review that has one.
    stale = sorted(
        f"{m} {p}" for m, p in RULES if (m, p) not in table and (m, p) not in WITH_IDENTITY_PROVIDER
    )
    assert stale == [], "rules for routes that no longer exist"


async def test_every_role_on_every_endpoint_is_allowed_or_403(review: Review) -> None:
    outcomes: list[str] = []
    async with aiohttp.ClientSession() as http:
        for endpoint in endpoints(review):
            rule = rule_for(*endpoint)
            assert rule is not None
            for role in Role:
                staff_id = ROLES_TO_STAFF[role]
                status, body = await call(
                    http, review, endpoint, {"Authorization": f"Bearer demo-{staff_id}-token"}
                )
                if isinstance(rule, Action):
                    allowed = action_name(rule) in POLICY.access.roles[role].actions
                else:
                    allowed = True
                where = f"{role.value} {endpoint[0]} {endpoint[1]} → {status}"
                if allowed:
                    assert status not in (401, 403), where + ": " + body[:300]
                else:
                    assert status == 403, where
                    assert action_name(rule) in body, where  # the refusal names the action
                outcomes.append(where)
    assert len(outcomes) == len(endpoints(review)) * len(Role)


async def test_every_endpoint_without_credentials_is_401_unless_public(review: Review) -> None:
    async with aiohttp.ClientSession() as http:
        for endpoint in endpoints(review):
            rule = rule_for(*endpoint)
            status, _ = await call(http, review, endpoint, {})
            where = f"{endpoint[0]} {endpoint[1]} → {status}"
            if rule is Open.PUBLIC:
                assert status not in (401, 403), where
            elif endpoint[0] == "GET" and endpoint[1].startswith("/console"):
                assert status == 303, where  # to the sign-in page
            else:
                assert status == 401, where

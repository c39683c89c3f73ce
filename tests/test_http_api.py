"""The services' HTTP APIs, against the real processes of one stack.

Intake's request API (validation, idempotency), review's staff API (auth, filters,
decisions, sign-offs, the decline path), what every service serves (/healthz,
/metrics, JSON errors) and start-up refusals of bad settings.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from casework.mediawiki import MediaWikiClient
from deploy.stack import REPO_ROOT
from services.review.domain.opening import case_id_for
from tests.fixtures.stack import Stack
from tests.support import eventually, free_port
from tests.test_end_to_end import (
    approve,
    ban_request,
    block_log_entries,
    case_opened,
    messages_to,
    submit,
    token,
)

pytestmark = pytest.mark.e2e

REFERENCE = re.compile(r"^R-[A-Z2-7]{12}$")
SERVICES = ("intake", "review", "enforcement", "notify")
Json = dict[str, Any]


# --- helpers ------------------------------------------------------------------------------


def requests_url(stack: Stack) -> str:
    return f"{stack.url('intake')}/api/v1/requests"


def cases_url(stack: Stack, suffix: str = "") -> str:
    return f"{stack.url('review')}/api/v1/cases{suffix}"


def decision(account: str, grounds: list[str] | None = None) -> Json:
    return {
        "subject": {"account": account, "email": f"{account.lower()}@sandbox.test"},
        "grounds": grounds or ["tou-4-harassment"],
        "public_rationale": "Sustained harassment of several contributors.",
    }


def fields_and_rules(body: Json) -> set[tuple[str, str]]:
    return {(e["field"], e["rule"]) for e in body["errors"]}


def assert_error_body(body: Json, code: str) -> None:
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["errors"], list)
    for item in body["errors"]:
        assert set(item) == {"field", "rule", "message"}, item


async def post_request(
    http: aiohttp.ClientSession, stack: Stack, body: Json, key: str | None = None
) -> tuple[int, Json, Mapping[str, str]]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    async with http.post(requests_url(stack), json=body, headers=headers) as reply:
        return reply.status, await reply.json(), reply.headers


async def case_ids(http: aiohttp.ClientSession, stack: Stack) -> list[str]:
    async with http.get(cases_url(stack, "?limit=500"), headers=token("alice")) as reply:
        assert reply.status == 200, await reply.text()
        body = await reply.json()
    return [case["id"] for case in body["cases"]]


async def new_case(http: aiohttp.ClientSession, stack: Stack, account: str) -> str:
    case_id = case_id_for(await submit(http, stack, account))
    await case_opened(http, stack, case_id)
    return case_id


async def draft(http: aiohttp.ClientSession, stack: Stack, case_id: str, account: str) -> None:
    async with http.put(
        cases_url(stack, f"/{case_id}/decision"), json=decision(account), headers=token("alice")
    ) as reply:
        assert reply.status == 200, await reply.text()


async def sign(
    http: aiohttp.ClientSession, stack: Stack, case_id: str, staff: str, level: str, verdict: str
) -> tuple[int, Json]:
    async with http.post(
        cases_url(stack, f"/{case_id}/signoffs"),
        json={"level": level, "verdict": verdict, "comment": f"{staff}: {verdict}"},
        headers=token(staff),
    ) as reply:
        return reply.status, await reply.json()


# --- intake: POST /api/v1/requests --------------------------------------------------------


async def test_a_valid_request_is_accepted_with_a_reference(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    status, body, headers = await post_request(http, stack, ban_request("Admin4"))
    assert status == 202, body
    assert REFERENCE.fullmatch(body["reference"]), body
    assert body["status"] == "received"
    assert "Idempotent-Replayed" not in headers
    await case_opened(http, stack, case_id_for(body["reference"]))


async def test_invalid_json_is_400(stack: Stack, http: aiohttp.ClientSession) -> None:
    async with http.post(
        requests_url(stack),
        data=b'{"action": "global-ban",',
        headers={"Content-Type": "application/json"},
    ) as reply:
        body = await reply.json()
        assert reply.status == 400, body
    assert_error_body(body, "invalid_json")
    assert [e["field"] for e in body["errors"]] == ["body"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_declared_json_is_415(
    stack: Stack, http: aiohttp.ClientSession, content_type: str
) -> None:
    async with http.post(
        requests_url(stack),
        data=yaml.safe_dump(ban_request("Admin4")).encode(),
        headers={"Content-Type": content_type},
    ) as reply:
        body = await reply.json()
        assert reply.status == 415, body
    assert_error_body(body, "unsupported_media_type")
    assert [e["field"] for e in body["errors"]] == ["Content-Type"]


def _parent(body: Json, path: str) -> tuple[Any, str | int]:
    """The container holding the field at dotted ``path`` (list indexes as digits), and its key."""
    *parents, last = path.split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    return target, int(last) if last.isdigit() else last


def _without(path: str) -> Callable[[Json], None]:
    def change(body: Json) -> None:
        target, key = _parent(body, path)
        del target[key]

    return change


def _set(path: str, value: Any) -> Callable[[Json], None]:
    def change(body: Json) -> None:
        target, key = _parent(body, path)
        target[key] = value

    return change


def _misspell_subject_wikis(body: Json) -> None:
    body["subject"]["wiki"] = body["subject"].pop("wikis")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(_without("summary"), {("summary", "missing")}, id="summary-missing"),
        pytest.param(
            _set("summary", "too short"), {("summary", "string_too_short")}, id="summary-short"
        ),
        pytest.param(
            _set("evidence.0.url", "javascript:alert(1)"),
            {("evidence.0.url", "string_pattern_mismatch")},
            id="evidence-url",
        ),
        pytest.param(
            _without("evidence.1.where"), {("evidence.1.where", "missing")}, id="evidence-where"
        ),
        pytest.param(_set("evidence", []), {("evidence", "too_short")}, id="evidence-empty"),
        pytest.param(
            _set("requester.email", "rita at example.org"),
            {("requester.email", "string_pattern_mismatch")},
            id="requester-email",
        ),
        pytest.param(
            _misspell_subject_wikis, {("subject.wiki", "extra_forbidden")}, id="subject-wiki"
        ),
        pytest.param(
            _set("subject.account", "[[Evil]]"),
            {("subject.account", "string_pattern_mismatch")},
            id="subject-account",
        ),
        pytest.param(_set("action", "global-bann"), {("action", "one_of")}, id="unknown-action"),
        pytest.param(
            _set("prior_attempts", []),
            {("prior_attempts", "required_by_policy")},
            id="ban-without-prior-attempts",
        ),
        pytest.param(
            lambda body: (_without("summary")(body), _set("requester.email", "x")(body)),
            {("summary", "missing"), ("requester.email", "string_pattern_mismatch")},
            id="two-at-once",
        ),
    ],
)
async def test_invalid_requests_are_422_naming_each_field_and_rule(
    stack: Stack,
    http: aiohttp.ClientSession,
    change: Callable[[Json], Any],
    expected: set[tuple[str, str]],
) -> None:
    body = copy.deepcopy(ban_request("Admin4"))
    change(body)
    status, reply, _ = await post_request(http, stack, body)
    assert status == 422, reply
    assert_error_body(reply, "validation_failed")
    assert fields_and_rules(reply) == expected


async def test_a_request_without_prior_attempts_is_fine_when_the_policy_allows_it(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    body = {**ban_request("Admin4"), "action": "conduct-warning", "prior_attempts": []}
    status, reply, _ = await post_request(http, stack, body)
    assert status == 202, reply
    await case_opened(http, stack, case_id_for(reply["reference"]))


async def test_an_overlong_idempotency_key_is_422(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await post_request(http, stack, ban_request("Admin4"), key="k" * 201)
    assert status == 422, body
    assert fields_and_rules(body) == {("Idempotency-Key", "length")}


async def test_a_retried_request_is_replayed_and_opens_one_case(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    key = f"retry-{uuid.uuid4()}"
    first_status, first, first_headers = await post_request(http, stack, ban_request("Admin4"), key)
    second_status, second, second_headers = await post_request(
        http, stack, ban_request("Admin4"), key
    )
    assert (first_status, second_status) == (202, 202), (first, second)
    assert REFERENCE.fullmatch(first["reference"])
    assert second["reference"] == first["reference"]
    assert "Idempotent-Replayed" not in first_headers
    assert second_headers.get("Idempotent-Replayed") == "true"

    case_id = case_id_for(first["reference"])
    await case_opened(http, stack, case_id)
    assert (await case_ids(http, stack)).count(case_id) == 1


async def test_an_idempotency_key_reused_for_another_body_is_409(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    key = f"reuse-{uuid.uuid4()}"
    status, first, _ = await post_request(http, stack, ban_request("Admin4"), key)
    assert status == 202, first
    other = {**ban_request("Admin4"), "summary": "A different account of what happened, in full."}
    status, body, headers = await post_request(http, stack, other, key)
    assert status == 409, body
    assert_error_body(body, "idempotency_key_reused")
    assert [e["field"] for e in body["errors"]] == ["Idempotency-Key"]
    assert "Idempotent-Replayed" not in headers
    await case_opened(http, stack, case_id_for(first["reference"]))


async def test_a_rejected_request_changes_nothing(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    before = set(await case_ids(http, stack))
    key = f"rejected-first-{uuid.uuid4()}"
    rejected = {**ban_request("Admin4"), "prior_attempts": []}
    status, body, _ = await post_request(http, stack, rejected, key)
    assert status == 422, body

    # The key was not used up by the rejected request: a valid body under it is new, not a
    # replay and not a conflict. Its case is the ordering signal for "nothing else came".
    status, accepted, headers = await post_request(http, stack, ban_request("Admin4"), key)
    assert status == 202, accepted
    assert "Idempotent-Replayed" not in headers
    case_id = case_id_for(accepted["reference"])
    await case_opened(http, stack, case_id)
    assert set(await case_ids(http, stack)) - before == {case_id}


# --- review: the staff API ----------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", "Bearer ", "Basic demo-alice-token", "demo-alice-token"],
)
@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", "", None),
        ("GET", "/OA-AAAAAAAAAAAA", None),
        ("PUT", "/OA-AAAAAAAAAAAA/decision", decision("Admin4")),
        (
            "POST",
            "/OA-AAAAAAAAAAAA/signoffs",
            {"level": "case-handler", "verdict": "approve", "comment": "ok"},
        ),
    ],
)
async def test_review_without_a_valid_staff_token_is_401(
    stack: Stack,
    http: aiohttp.ClientSession,
    authorization: str | None,
    method: str,
    path: str,
    payload: Json | None,
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with http.request(method, cases_url(stack, path), json=payload, headers=headers) as reply:
        body = await reply.json()
        assert reply.status == 401, body
    assert_error_body(body, "unauthenticated")
    assert [e["field"] for e in body["errors"]] == ["Authorization"]


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", "/OA-NOSUCHCASE000", None),
        ("PUT", "/OA-NOSUCHCASE000/decision", decision("Admin4")),
        (
            "POST",
            "/OA-NOSUCHCASE000/signoffs",
            {"level": "case-handler", "verdict": "approve", "comment": "ok"},
        ),
    ],
)
async def test_an_unknown_case_is_404(
    stack: Stack, http: aiohttp.ClientSession, method: str, path: str, payload: Json | None
) -> None:
    async with http.request(
        method, cases_url(stack, path), json=payload, headers=token("alice")
    ) as reply:
        body = await reply.json()
        assert reply.status == 404, body
    assert_error_body(body, "not_found")
    assert fields_and_rules(body) == {("case_id", "exists")}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=bogus", "state"),
        ("action_type=global-bann", "action_type"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        pytest.param("limit=%C2%B2", "limit", id="limit=superscript-two"),
    ],
)
async def test_a_bad_case_list_filter_is_422(
    stack: Stack, http: aiohttp.ClientSession, query: str, field: str
) -> None:
    async with http.get(cases_url(stack, f"?{query}"), headers=token("alice")) as reply:
        assert reply.content_type == "application/json", await reply.text()
        body = await reply.json()
        assert reply.status == 422, body
    assert_error_body(body, "validation_failed")
    assert [e["field"] for e in body["errors"]] == [field]


async def test_case_list_filters_by_state(stack: Stack, http: aiohttp.ClientSession) -> None:
    case_id = await new_case(http, stack, "Admin4")
    async with http.get(cases_url(stack, "?state=open&limit=500"), headers=token("bob")) as reply:
        assert reply.status == 200
        opened = (await reply.json())["cases"]
    assert case_id in {c["id"] for c in opened}
    assert {c["state"] for c in opened} == {"open"}
    [summary] = [c for c in opened if c["id"] == case_id]
    assert summary["action_type"] == "global-ban"
    assert summary["subject"] == "Admin4"
    assert "requester" not in summary


async def test_a_decision_citing_unknown_clauses_is_422_naming_each(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    case_id = await new_case(http, stack, "Admin4")
    body = decision("Admin4", ["no-such-clause", "tou-4-harassment", "ucoc-9-9"])
    async with http.put(
        cases_url(stack, f"/{case_id}/decision"), json=body, headers=token("alice")
    ) as reply:
        reply_body = await reply.json()
        assert reply.status == 422, reply_body
    assert_error_body(reply_body, "validation_failed")
    assert fields_and_rules(reply_body) == {
        ("grounds.0", "known_clause"),
        ("grounds.2", "known_clause"),
    }
    async with http.get(cases_url(stack, f"/{case_id}"), headers=token("alice")) as reply:
        case = await reply.json()
    assert case["state"] == "open" and case["decision"] is None


async def test_a_sign_off_before_a_decision_is_409(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    case_id = await new_case(http, stack, "Admin4")
    status, body = await sign(http, stack, case_id, "alice", "case-handler", "approve")
    assert status == 409, body
    assert_error_body(body, "not_awaiting_signoff")
    assert [e["field"] for e in body["errors"]] == ["state"]


async def test_a_sign_off_at_the_wrong_level_is_409(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    case_id = await new_case(http, stack, "Admin4")
    await draft(http, stack, case_id, "Admin4")
    status, body = await sign(http, stack, case_id, "carol", "legal-counsel", "approve")
    assert status == 409, body
    assert_error_body(body, "wrong_level")
    assert fields_and_rules(body) == {("level", "next_in_chain")}
    async with http.get(cases_url(stack, f"/{case_id}"), headers=token("alice")) as reply:
        case = await reply.json()
    assert case["signoffs"] == [] and case["next_level"] == "case-handler"


async def test_a_declined_case_is_closed_and_never_enforced(
    stack: Stack, http: aiohttp.ClientSession, wiki_client: MediaWikiClient
) -> None:
    declined_id = await new_case(http, stack, "Harasser2")
    await draft(http, stack, declined_id, "Harasser2")
    status, body = await sign(http, stack, declined_id, "alice", "case-handler", "decline")
    assert status == 201, body
    assert body["state"] == "declined"

    async with http.get(cases_url(stack, f"/{declined_id}"), headers=token("bob")) as reply:
        case = await reply.json()
    assert case["state"] == "declined"
    assert [(s["level"], s["verdict"]) for s in case["signoffs"]] == [("case-handler", "decline")]
    async with http.get(cases_url(stack, "?state=declined"), headers=token("bob")) as reply:
        assert declined_id in {c["id"] for c in (await reply.json())["cases"]}

    # Closed: neither a new draft nor a further sign-off is taken.
    async with http.put(
        cases_url(stack, f"/{declined_id}/decision"),
        json=decision("Harasser2"),
        headers=token("alice"),
    ) as reply:
        closed = await reply.json()
        assert reply.status == 409, closed
    assert closed["error"] == "case_closed"
    status, body = await sign(http, stack, declined_id, "bob", "ts-manager", "approve")
    assert status == 409 and body["error"] == "not_awaiting_signoff", body

    # Ordering signal: a case approved after the decline goes all the way to the wiki and the
    # mailbox; by then the decline, published before it, has long been seen by enforcement.
    approved_id = await new_case(http, stack, "Goodfaith3")
    await approve(http, stack, approved_id, "Goodfaith3")

    async def approved_blocked() -> Any:
        blocks = await wiki_client.active_blocks("Goodfaith3")
        return [b for b in blocks if approved_id in b.reason]

    await eventually(approved_blocked, what="the approved case's block on Goodfaith3")

    async def approved_mailed() -> Any:
        return messages_to(stack, "goodfaith3@sandbox.test")

    await eventually(approved_mailed, what="the approved case's email")

    blocks = await wiki_client.active_blocks("Harasser2")
    assert [b for b in blocks if declined_id in b.reason] == []
    async with aiohttp.ClientSession() as anonymous:
        entries = await block_log_entries(anonymous, stack.wiki.api_url, "Harasser2")
    assert entries == []
    assert messages_to(stack, "harasser2@sandbox.test") == []
    page = await wiki_client.page("Office actions log")
    assert page is None or declined_id not in page.text


# --- every service ------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
async def test_healthz_reports_each_dependency(
    stack: Stack, http: aiohttp.ClientSession, service: str
) -> None:
    async with http.get(f"{stack.url(service)}/healthz") as reply:
        body = await reply.json()
        assert reply.status == 200, body
    assert body["status"] == "ok"
    expected = {"store", "broker"} | {
        "notify": {"smtp", "wiki"},
        "enforcement": {"wiki:sandbox"},
    }.get(service, set())
    assert set(body["checks"]) == expected
    for name, check in body["checks"].items():
        assert check["status"] == "ok", (name, check)


@pytest.mark.parametrize("service", SERVICES)
async def test_metrics_are_prometheus_text(
    stack: Stack, http: aiohttp.ClientSession, service: str
) -> None:
    async with http.get(f"{stack.url(service)}/healthz") as reply:
        assert reply.status == 200
    async with http.get(f"{stack.url(service)}/metrics") as reply:
        assert reply.status == 200
        assert reply.content_type == "text/plain"
        text = await reply.text()
    assert "# TYPE http_requests_total counter" in text
    assert re.search(r'^http_requests_total\{.*route="/healthz".*\} \d', text, re.MULTILINE)
    assert re.search(r"^outbox_published \d", text, re.MULTILINE), text


# Whose JSON API wants a staff assertion from review (audience): without one a caller
# learns nothing, not even which routes exist.
ASSERTION_AUDIENCE = {"notify": "notify", "monitor": "monitor"}
# Someone each audience admits (access.audiences): a case handler for notify, ops for the monitor.
ASSERTION_HOLDER = {"notify": "alice", "monitor": "olga"}


async def _assertion(http: aiohttp.ClientSession, stack: Stack, audience: str) -> dict[str, str]:
    async with http.post(
        f"{stack.url('review')}/api/v1/assertions",
        json={"audience": audience},
        headers={"Authorization": f"Bearer demo-{ASSERTION_HOLDER[audience]}-token"},
    ) as reply:
        assert reply.status == 200, await reply.text()
        return {"Authorization": f"Bearer {(await reply.json())['token']}"}


@pytest.mark.parametrize("service", SERVICES)
async def test_an_unknown_route_is_a_json_404(
    stack: Stack, http: aiohttp.ClientSession, service: str
) -> None:
    headers: dict[str, str] = {}
    if service in ASSERTION_AUDIENCE:
        async with http.get(f"{stack.url(service)}/api/v1/no-such-thing") as reply:
            assert reply.status == 401, await reply.text()
            assert reply.content_type == "application/json"
            assert_error_body(await reply.json(), "unauthenticated")
        headers = await _assertion(http, stack, ASSERTION_AUDIENCE[service])
    async with http.get(f"{stack.url(service)}/api/v1/no-such-thing", headers=headers) as reply:
        assert reply.status == 404, await reply.text()
        assert reply.content_type == "application/json"
        body = await reply.json()
    assert_error_body(body, "not_found")


async def test_a_wrong_method_is_a_json_405(stack: Stack, http: aiohttp.ClientSession) -> None:
    async with http.get(requests_url(stack)) as reply:
        assert reply.status == 405, await reply.text()
        assert reply.content_type == "application/json"
        assert "POST" in reply.headers.get("Allow", "")
        body = await reply.json()
    assert_error_body(body, "method_not_allowed")


# --- start-up refuses bad settings --------------------------------------------------------


def run_intake(stack: Stack, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = stack.environment({"INTAKE_PORT": str(free_port()), **extra})
    return subprocess.run(
        [sys.executable, "-m", "services.intake"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("port", ["notaport", "70000"])
def test_intake_refuses_a_bad_port(stack: Stack, port: str) -> None:
    result = run_intake(stack, {"INTAKE_PORT": port})
    assert result.returncode != 0
    assert "INTAKE_PORT" in result.stderr, result.stderr
    assert "listening" not in result.stdout


def test_intake_refuses_a_policy_with_an_unknown_signoff_level(
    stack: Stack, tmp_path: Path
) -> None:
    policy = yaml.safe_load((REPO_ROOT / "policy" / "office-actions.yaml").read_text())
    policy["action_types"]["global-ban"]["signoff"].append("ombudsman")
    policy_file = tmp_path / "policy-with-unknown-level.yaml"
    policy_file.write_text(yaml.safe_dump(policy))

    result = run_intake(stack, {"CASEWORK_POLICY_FILE": str(policy_file)})
    assert result.returncode != 0
    assert str(policy_file) in result.stderr, result.stderr
    assert "action_types.global-ban.signoff" in result.stderr, result.stderr
    assert "ombudsman" in result.stderr
    assert "listening" not in result.stdout

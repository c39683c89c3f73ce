"""DSA statements of reasons and Lumen notices: documents, rules, submission.

The rules of the EU DSA Transparency Database statement API are kept as data
in tests/data/dsa (JSON Schema plus the date-order and range rules JSON
Schema cannot say). The real API (transparency.dsa.ec.europa.eu) and Lumen
(lumendatabase.org) cannot be reached from here: the clients are tested
against a small aiohttp server in this module that applies the same rules
and answers as the APIs do (201 with the created documents, 422 otherwise).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker

from casework.contract import ActionEnforced
from casework.policy import load_policy
from casework.store import DocumentStore, open_store
from services.notify.adapters.collections import LUMEN_NOTICES, STATEMENTS
from services.notify.adapters.transparency import DsaClient, LumenClient, SubmissionRejected
from services.notify.domain import dsa, lumen
from services.notify.domain.views import public_view
from services.notify.usecases.transparency_submission import TransparencySubmitter
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
RULES = json.loads((ROOT / "tests/data/dsa/statement.schema.json").read_text())
LUMEN_RULES = json.loads((ROOT / "tests/data/dsa/lumen-notice.schema.json").read_text())
STATEMENT = Draft202012Validator(RULES, format_checker=FormatChecker())
NOTICE = Draft202012Validator(LUMEN_RULES, format_checker=FormatChecker())
TOKEN = "X|sandbox-token-for-tests"


def statement_errors(statement: dict[str, Any]) -> list[str]:
    """Every rule the statement breaks: the schema, then the date rules kept beside it."""
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in STATEMENT.iter_errors(statement)
    ]
    for earlier, later in RULES["x-date-order"]:
        if earlier in statement and later in statement and statement[later] < statement[earlier]:
            errors.append(f"{later}: must be on or after {earlier}")
    for name, (low, high) in RULES["x-date-range"].items():
        value = statement.get(name)
        if value is None:
            continue
        if (low and value < low) or (high and value > high):
            errors.append(f"{name}: must be between {low} and {high}")
    return errors


def enforced(action_type: str, **decision: Any) -> ActionEnforced:
    clause = POLICY.clauses.items["tou-4-harassment"]
    fields: dict[str, Any] = {
        "action_type": action_type,
        "subject": {"account": "Vandal", "email": "private@example.org"},
        "grounds": [
            {"id": "tou-4-harassment", "catalogue_version": "2026-11", **clause.model_dump()}
        ],
        "public_rationale": "Sustained harassment of several contributors.",
        "appealable": True,
        "evidence": [
            {
                "id": "E1",
                "description": "public diff",
                "url": "https://en.example/diff/1",
                "where": "on-wiki-public",
                "audiences": ["public"],
            },
            {
                "id": "E2",
                "description": "zqsecretzq chat log",
                "url": "https://private.example/zqsecretzq",
                "where": "off-wiki-private",
            },
        ],
    }
    if action_type in ("dmca-takedown", "child-protection", "office-page-protection"):
        fields["content"] = {
            "pages": [{"wiki": "enwiki", "title": "Copied page", "removal": "delete"}]
        }
    return ActionEnforced.model_validate(
        {
            "case_id": "OA-TRANSPARENT1",
            "decision": {**fields, **decision},
            "operations": [],
            "enforced_at": "2026-11-20T12:00:00+00:00",
        }
    )


def statement_for(event: ActionEnforced) -> dict[str, Any]:
    mapping = POLICY.notify.dsa.action_types[event.decision.action_type]
    return dsa.statement_of_reasons(
        public_view(event, POLICY), mapping, POLICY.notify.dsa, revision=event.decision.revision
    )


# --- the documents ------------------------------------------------------------------------------


def test_every_mapped_action_type_exists_in_the_policy() -> None:
    assert set(POLICY.notify.dsa.action_types) <= set(POLICY.action_types)
    assert "conduct-warning" not in POLICY.notify.dsa.action_types  # restricts nothing online


@pytest.mark.parametrize("action_type", sorted(POLICY.notify.dsa.action_types))
@pytest.mark.parametrize("expires", [None, "2027-05-01T00:00:00+00:00"])
def test_statement_of_reasons_follows_the_rules(action_type: str, expires: str | None) -> None:
    statement = statement_for(enforced(action_type, expires_at=expires))
    assert statement_errors(statement) == []
    assert "zqsecretzq" not in json.dumps(statement)
    assert "private@example.org" not in json.dumps(statement)
    assert uuid.UUID(statement["puid"])


def test_global_ban_statement_terminates_the_account_on_contractual_grounds() -> None:
    statement = statement_for(enforced("global-ban"))
    assert statement["decision_account"] == "DECISION_ACCOUNT_TERMINATED"
    assert statement["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert "Terms of Use" in statement["incompatible_content_ground"]
    assert statement["application_date"] == "2026-11-20"
    assert statement["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert "end_date_account_restriction" not in statement  # indefinite


def test_dmca_statement_removes_content_on_legal_grounds() -> None:
    statement = statement_for(enforced("dmca-takedown", expires_at="2027-01-01T00:00:00+00:00"))
    assert statement["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert statement["category"] == "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"
    assert statement["end_date_visibility_restriction"] == "2027-01-01"
    assert "incompatible_content_ground" not in statement


def test_confidential_decision_statement_publishes_no_facts() -> None:
    event = enforced("global-ban")
    mapping = POLICY.notify.dsa.action_types["global-ban"]
    statement = dsa.statement_of_reasons(
        public_view(event, POLICY), mapping, POLICY.notify.dsa, revision=1, confidential=True
    )
    assert statement_errors(statement) == []
    assert event.decision.public_rationale not in json.dumps(statement)
    assert statement["decision_facts"].endswith(dsa.CONFIDENTIAL_FACTS)


def test_puid_is_stable_per_case_and_revision() -> None:
    first = statement_for(enforced("global-ban"))["puid"]
    assert statement_for(enforced("global-ban"))["puid"] == first
    assert statement_for(enforced("global-ban", revision=2))["puid"] != first


@pytest.mark.parametrize(
    ("change", "broken"),
    [
        ({"category": "STATEMENT_CATEGORY_MADE_UP"}, "category"),
        ({"decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT"}, "illegal_content_legal_ground"),
        ({"application_date": "2026-11-20 12:00"}, "application_date"),
        ({"end_date_account_restriction": "2026-01-01"}, "end_date_account_restriction"),
        ({"territorial_scope": ["US"]}, "territorial_scope"),
        ({"automated_decision": "No"}, "automated_decision"),
        ({"decision_facts": "x" * 5001}, "decision_facts"),
    ],
)
def test_the_rules_catch_a_broken_statement(change: dict[str, Any], broken: str) -> None:
    statement = {**statement_for(enforced("global-ban")), **change}
    errors = statement_errors(statement)
    assert errors and any(broken in e for e in errors), errors


def test_lumen_notice_names_roles_not_people() -> None:
    event = enforced("dmca-takedown")
    notice = lumen.lumen_notice(
        public_view(event, POLICY),
        page_urls=["https://officeactions.test/enwiki/Copied_page"],
        recipient="Office actions",
    )
    assert list(NOTICE.iter_errors(notice)) == []
    text = json.dumps(notice)
    assert "@" not in text
    assert "zqsecretzq" not in text
    work = notice["notice"]["works_attributes"][0]
    assert work["infringing_urls_attributes"] == [
        {"url": "https://officeactions.test/enwiki/Copied_page"}
    ]
    assert work["copyrighted_urls_attributes"] == [{"url": "https://en.example/diff/1"}]


# --- the clients against a server applying the same rules ---------------------------------------


class RulesServer:
    """Accepts what the rules accept; records each call."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.notices: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/statements", self.statements)
        app.router.add_post("/notices", self.notice)
        return app

    async def statements(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Unauthenticated."}, status=401)
        body = await request.json()
        items = body.get("statements", [])
        if not items or len(items) > RULES["x-batch-limit"]:
            return web.json_response({"message": "1 to 100 statements per call"}, status=422)
        errors = {str(i): statement_errors(s) for i, s in enumerate(items) if statement_errors(s)}
        if errors:
            return web.json_response({"message": "invalid", "errors": errors}, status=422)
        self.batches.append(len(items))
        created = [{**s, "uuid": str(uuid.uuid4())} for s in items]
        return web.json_response({"statements": created}, status=201)

    async def notice(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.pop("authentication_token", None) != TOKEN:
            return web.json_response({"error": "unauthorized"}, status=401)
        errors = [e.message for e in NOTICE.iter_errors(body)]
        if errors:
            return web.json_response({"errors": errors}, status=422)
        self.notices.append(body)
        return web.json_response({"id": len(self.notices), **body["notice"]}, status=201)


@pytest.fixture
async def rules_server() -> AsyncIterator[tuple[RulesServer, str]]:
    server = RulesServer()
    runner = web.AppRunner(server.app())
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DocumentStore]:
    opened = await open_store(f"sqlite:///{tmp_path / 'notify.sqlite3'}")
    try:
        yield opened
    finally:
        await opened.close()


def many_statements(count: int) -> list[dict[str, Any]]:
    base = statement_for(enforced("global-ban"))
    start = date(2026, 1, 1)
    return [
        {
            **base,
            "puid": f"OA-{i}",
            "application_date": (start + timedelta(days=i % 300)).isoformat(),
        }
        for i in range(count)
    ]


async def test_dsa_client_sends_at_most_100_per_call(rules_server: tuple[RulesServer, str]) -> None:
    server, url = rules_server
    async with aiohttp.ClientSession() as session:
        created = await DsaClient(session, url, TOKEN).submit(many_statements(250))
    assert server.batches == [100, 100, 50]
    assert [c["puid"] for c in created] == [f"OA-{i}" for i in range(250)]


async def test_dsa_client_reports_a_rejected_batch(rules_server: tuple[RulesServer, str]) -> None:
    server, url = rules_server
    broken = {**many_statements(1)[0], "category": "NOT_A_CATEGORY"}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(SubmissionRejected) as caught:
            await DsaClient(session, url, TOKEN).submit([broken])
        with pytest.raises(SubmissionRejected) as unauthorised:
            await DsaClient(session, url, "wrong").submit(many_statements(1))
    assert caught.value.status == 422 and "category" in caught.value.body
    assert unauthorised.value.status == 401
    assert server.batches == []


async def test_submitter_submits_what_is_pending_once(
    rules_server: tuple[RulesServer, str], store: DocumentStore
) -> None:
    server, url = rules_server
    for i, statement in enumerate(many_statements(120)):
        await store.insert(
            STATEMENTS,
            {
                "_id": f"OA-{i:04d}:r1",
                "case_id": f"OA-{i}",
                "state": "pending",
                "statement": statement,
            },
        )
    notice = lumen.lumen_notice(
        public_view(enforced("dmca-takedown"), POLICY),
        page_urls=["https://officeactions.test/enwiki/Copied_page"],
        recipient="Office actions",
    )
    await store.insert(
        LUMEN_NOTICES,
        {"_id": "OA-DMCA:r1", "case_id": "OA-DMCA", "state": "pending", "notice": notice},
    )
    async with aiohttp.ClientSession() as session:
        submitter = TransparencySubmitter(
            store, DsaClient(session, url, TOKEN), LumenClient(session, url, TOKEN)
        )
        assert await submitter.flush() == 121
        assert await submitter.flush() == 0  # nothing twice
    assert server.batches == [100, 20]
    assert len(server.notices) == 1
    assert await store.find(STATEMENTS, {"state": "pending"}) == []
    done = await store.get(STATEMENTS, "OA-0000:r1")
    assert done is not None and done["state"] == "submitted" and done["answer"]["uuid"]


def test_dates_are_days_in_utc() -> None:
    late = datetime(2026, 11, 20, 23, 30, tzinfo=UTC).isoformat()
    event = enforced("global-ban").model_copy(update={"enforced_at": datetime.fromisoformat(late)})
    assert statement_for(event)["application_date"] == "2026-11-20"

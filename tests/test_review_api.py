"""Review's JSON API over real HTTP (aiohttp on a free port) and a real SQLite store, built
by the service's own wiring (`services.review.app.build` and the access middleware
`add_staff_access` installs, as `wire` does). The relay does not run: what
the API would publish is read from the store's outbox, stored with the change itself.
The broker path is covered end to end in test_end_to_end.py and test_http_api.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import openapi_spec_validator
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from casework.cloudevents import CloudEvent
from casework.contract import (
    Channel,
    EnforcementFailed,
    Requester,
    RetryOrdered,
    Subject,
    SubmissionKind,
    SubmissionReceived,
    from_cloudevent,
)
from casework.kafka import EventPublisher
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.runtime import Kit
from casework.store import DocumentStore, open_store
from services.review.app import Review, active_staff, add_staff_access, build, open_staff
from services.review.settings import ReviewSettings
from tests.fixtures.keys import install_keys, session_signer
from tests.support import free_port
from tests.test_review_auth_support import submission

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
DEMO_STAFF = ROOT / "deploy" / "demo-staff.yaml"
Json = dict[str, Any]


@dataclass
class Api:
    url: str
    http: aiohttp.ClientSession
    store: DocumentStore
    review: Review

    async def call(
        self, method: str, path: str, who: str | None = "alice", body: Any = None
    ) -> tuple[int, Json]:
        headers = {"Authorization": f"Bearer demo-{who}-token"} if who else {}
        async with self.http.request(
            method, f"{self.url}{path}", json=body, headers=headers
        ) as reply:
            return reply.status, await reply.json()

    async def events(self) -> list[str]:
        entries = await self.store.pending_outbox(limit=1000)
        return [type(from_cloudevent(e.event)).__name__ for e in entries]


async def _never(topic: str, event: CloudEvent) -> None:
    raise AssertionError("the relay does not run in these tests")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    store = await open_store(f"sqlite://{tmp_path / 'review.sqlite3'}")
    relay = OutboxRelay(store, _never)
    registry = CollectorRegistry()
    # The access middleware as the service installs it: tokens, sessions, rules.
    install_keys(tmp_path)
    settings = ReviewSettings(
        CASEWORK_DATA_DIR=tmp_path,
        REVIEW_STAFF_FILE=DEMO_STAFF,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
    )
    kit = Kit(
        settings=settings,
        policy=POLICY,
        store=store,
        publisher=EventPublisher(settings.kafka()),  # never started: nothing is published
        relay=relay,
        registry=registry,
        health_checks={"store": store.ping},
    )
    staff = await open_staff(kit)
    review = await build(
        store,
        relay,
        POLICY,
        active_staff(staff),
        registry=registry,
        health_checks={"store": store.ping},
        signer=session_signer(),
    )
    await add_staff_access(kit, review.app, review.cases, staff)
    runner = web.AppRunner(review.app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Api(f"http://127.0.0.1:{port}", http, store, review)
    finally:
        await runner.cleanup()
        await store.close()


def fields_and_rules(body: Json) -> set[tuple[str, str]]:
    return {(e["field"], e["rule"]) for e in body["errors"]}


DECISION: Json = {
    "subject": {"account": "Harasser", "language": "en"},
    "grounds": ["ucoc-3-1", "tou-4-harassment"],
    "statement_of_facts": "Staff only.",
    "public_rationale": "Sustained harassment.",
    "evidence": [{"id": "E1", "audiences": ["affected-user"]}],
}


async def staff_case(api: Api, **fields: Any) -> str:
    status, body = await api.call(
        "POST",
        "/api/v1/cases",
        body={"action_type": "global-ban", "summary": "Seen on patrol.", **fields},
    )
    assert status == 201, body
    assert body["opened_by"] == "alice" and body["submission_id"] is None
    return str(body["id"])


# --- OpenAPI ------------------------------------------------------------------------------


async def test_the_openapi_document_describes_every_route(api: Api) -> None:
    async with api.http.get(f"{api.url}/api/v1/openapi.json") as reply:
        assert reply.status == 200
        document = await reply.json()
    assert document["openapi"] == "3.1.0"
    openapi_spec_validator.validate(document)  # a valid OpenAPI 3.1 document
    documented = {(p, m.upper()) for p, item in document["paths"].items() for m in item}
    served = {
        (route.resource.canonical, route.method)
        for route in api.review.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.resource.canonical != "/api/v1/openapi.json"
        and route.method != "HEAD"
    }
    assert served and served == documented
    schemas = document["components"]["schemas"]
    put = document["paths"]["/api/v1/cases/{case_id}/decision"]["put"]
    ref = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/DecisionForm"
    # The document's own schema accepts the body the API accepts, and refuses a broken one.
    schema = _inline({**schemas["DecisionForm"], "$defs": schemas})
    jsonschema.validate(DECISION, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**DECISION, "grounds": []}, schema)
    queue = {p["name"] for p in document["paths"]["/api/v1/cases"]["get"]["parameters"]}
    assert queue == {
        "state",
        "action_type",
        "assignee",
        "language",
        "deadline_before",
        "submission_id",
        "sort",
        "limit",
        "cursor",
    }


def _inline(schema: Json) -> Json:
    """The schema with #/components/schemas refs pointed at a local $defs."""
    text = json.dumps(schema).replace("#/components/schemas/", "#/$defs/")
    return dict(json.loads(text))


# --- a case from start to approval over the API -------------------------------------------


async def test_a_global_ban_from_staff_initiative_to_approval(api: Api) -> None:
    case_id = await staff_case(api)
    status, body = await api.call(
        "POST",
        f"/api/v1/cases/{case_id}/evidence",
        body={"description": "Threats", "where": "off-wiki-public", "url": "https://x.example/1"},
    )
    assert status == 201 and body["evidence"][0]["id"] == "E1", body
    status, body = await api.call(
        "POST", f"/api/v1/cases/{case_id}/notes", body={"text": "Checked the CU log."}
    )
    assert status == 201 and body["notes"][0]["author"] == "alice"
    status, body = await api.call(
        "PUT", f"/api/v1/cases/{case_id}/assignee", "bob", {"assignee": "alice"}
    )
    assert status == 200 and body["assignee"] == "alice"
    status, body = await api.call("PUT", f"/api/v1/cases/{case_id}/decision", body=DECISION)
    assert status == 200, body
    assert body["state"] == "awaiting-signoff" and body["next_level"] == "case-handler"
    status, body = await api.call(
        "PUT",
        f"/api/v1/cases/{case_id}/determination",
        "carol",
        {"text": "Counsel's words.", "disclosure": "withheld", "grounds": "Privilege."},
    )
    assert status == 200, body
    assert body["decision"]["determination"]["text"] == "Counsel's words."
    for who, level in [
        ("alice", "case-handler"),
        ("bob", "ts-manager"),
        ("carol", "legal-counsel"),
        ("dave", "director"),
    ]:
        status, body = await api.call(
            "POST",
            f"/api/v1/cases/{case_id}/signoffs",
            who,
            {"level": level, "verdict": "approve", "comment": f"{who} agrees"},
        )
        assert status == 201, body
    assert body["state"] == "approved" and body["outstanding_levels"] == []
    # Staff other than counsel see what counsel chose to disclose: here nothing.
    assert body["decision"]["determination"]["text"] == "(withheld by counsel: Privilege.)"
    assert body["determination_in_full"] is False and "Counsel's words" not in str(body)
    assert await api.events() == ["CaseOpened", "DecisionApproved"]
    reversal = f"/api/v1/cases/{case_id}/reversal"
    error = {"grounds": "error", "reason": "Wrong account."}
    status, body = await api.call("POST", reversal, "dave", error)
    assert status == 202 and body["state"] == "approved", body
    assert body["reversal_approvals_missing"] == 1
    # Every entitled person signed this one: two signers of the original are not enough.
    status, refusal = await api.call("POST", reversal, "bob", error)
    assert status == 403, refusal
    assert fields_and_rules(refusal) == {("level", "not_only_original_signers")}
    assert await api.events() == ["CaseOpened", "DecisionApproved"]
    status, body = await api.call("DELETE", reversal, "carol")
    assert status == 200 and body["pending_reversal"] is None, body
    status, again = await api.call("DELETE", reversal, "carol")
    assert status == 409 and fields_and_rules(again) == {("reversal", "pending")}, again
    actions = [e["action"] for e in body["timeline"]]
    assert actions[-2:] == ["reversal-requested", "reversal-withdrawn"]
    assert actions[:4] == ["case-opened", "evidence-added", "note-added", "assigned"]


async def test_a_reversal_takes_two_people_over_the_api(api: Api) -> None:
    """An interaction ban signed by alice and bob: dave alone leaves it pending (202,
    nothing published); the same person twice is refused; bob, who signed, may confirm
    beside dave, who did not (201, DecisionReversed with both approvals)."""
    case_id = await staff_case(api, action_type="interaction-ban")
    decision = {**DECISION, "evidence": [], "interaction_ban": {"counterparties": ["Victim One"]}}
    status, body = await api.call("PUT", f"/api/v1/cases/{case_id}/decision", body=decision)
    assert status == 200, body
    for who, level in [("alice", "case-handler"), ("bob", "ts-manager")]:
        status, body = await api.call(
            "POST",
            f"/api/v1/cases/{case_id}/signoffs",
            who,
            {"level": level, "verdict": "approve", "comment": "ok"},
        )
        assert status == 201, body
    assert body["state"] == "approved", body
    reversal = f"/api/v1/cases/{case_id}/reversal"
    error = {"grounds": "error", "reason": "Wrong account."}
    status, body = await api.call("POST", reversal, "dave", error)
    assert status == 202 and body["state"] == "approved", body
    pending = body["pending_reversal"]
    assert [a["staff_id"] for a in pending["approvals"]] == ["dave"]
    assert (pending["needed"], body["reversal_approvals_missing"]) == (2, 1)
    assert "DecisionReversed" not in await api.events()
    status, body = await api.call("POST", reversal, "dave", error)
    assert status == 409 and body["error"] == "already_approved", body
    assert fields_and_rules(body) == {("staff", "one_approval_per_person")}
    status, body = await api.call("POST", reversal, "bob", {**error, "reason": "Agreed."})
    assert status == 201 and body["state"] == "reversed", body
    entries = await api.store.pending_outbox(limit=1000)
    [reversed_] = [e.event.data for e in entries if e.event.type.endswith("decision-reversed.v1")]
    assert reversed_["grounds"] == "error" and reversed_["reason"] == "Wrong account."
    assert [(a["staff_id"], a["level"]) for a in reversed_["approvals"]] == [
        ("dave", "director"),
        ("bob", "ts-manager"),
    ]
    async with api.http.get(f"{api.url}/api/v1/openapi.json") as reply:
        described = (await reply.json())["paths"]["/api/v1/cases/{case_id}/reversal"]
    assert {"201", "202"} <= set(described["post"]["responses"]) and "delete" in described


async def test_an_inquiry_is_answered_over_the_api(api: Api) -> None:
    await api.review.cases.submission_received(
        SubmissionReceived(
            submission_id="R-INQUIRY00001",
            kind=SubmissionKind.INQUIRY,
            channel=Channel.EMAIL,
            routed_to="support-and-safety",
            summary="Why was I banned?",
            subject=Subject(account="Asker"),
            requester=Requester(name="Asker", email="asker@example.org"),
            received_at=datetime.now(UTC),
            refers_to="OA-EARLIER00001",
            questions=["Which clause?", "Who decided?"],
        )
    )
    answers = [
        {"outcome": "answered", "text": "UCoC 3.1."},
        {"outcome": "refused", "text": "Staff names are withheld for their safety."},
    ]
    status, body = await api.call(
        "POST", "/api/v1/cases/OA-INQUIRY00001/inquiry-answers", body={"answers": answers[:1]}
    )
    assert status == 422 and fields_and_rules(body) == {("answers", "one_per_question")}
    status, body = await api.call(
        "POST", "/api/v1/cases/OA-INQUIRY00001/inquiry-answers", body={"answers": answers}
    )
    assert status == 201 and body["state"] == "answered", body
    # The asker's tracking page: under review, then answered.
    assert await api.events() == [
        "CaseOpened",
        "CaseProgressed",
        "InquiryAnswered",
        "CaseProgressed",
    ]


async def test_waiting_for_the_requester_is_shown_in_the_queue(api: Api) -> None:
    case_id = await staff_case(api)
    status, body = await api.call(
        "PUT", f"/api/v1/cases/{case_id}/waiting", body={"waiting": True, "reason": "Asked."}
    )
    assert status == 200 and body["waiting_for_requester"] is True
    status, page = await api.call("GET", "/api/v1/cases?state=open&sort=urgency&limit=10")
    assert status == 200
    [row] = page["cases"]
    assert row["waiting_for_requester"] is True and row["id"] == case_id
    assert row["deadline_at"] is not None and page["next_cursor"] is None


async def test_the_case_opened_from_a_reference_is_found_by_it(api: Api) -> None:
    """A requester's reference (R-…) finds the case review opened from it: the README's
    walk-through needs no guessing of the case id."""
    for reference in ("R-WALKTHROUGH01", "R-WALKTHROUGH02"):
        await api.review.cases.submission_received(submission(reference))
    status, page = await api.call("GET", "/api/v1/cases?submission_id=R-WALKTHROUGH02")
    assert status == 200, page
    assert [row["id"] for row in page["cases"]] == ["OA-WALKTHROUGH02"]
    status, page = await api.call("GET", "/api/v1/cases?submission_id=R-NOSUCHREF00")
    assert status == 200 and page["cases"] == []


async def test_an_operation_failed_for_good_is_retried_on_order(api: Api) -> None:
    """Issue 18: "retry this operation" for the roles that may order a restoration, once per
    failure, recorded on the timeline and sent to enforcement signed."""
    case_id = await staff_case(api)
    await api.review.cases.outcome_reported(
        EnforcementFailed(
            case_id=case_id,
            wiki="enwiki",
            kind="remove-rights",
            target="Troublesome Editor",
            error_code="nothing-removed",
            error_info="the role account may lack the right",
            permanent=True,
            failed_at=datetime.now(UTC),
        )
    )
    order = {
        "wiki": "enwiki",
        "kind": "remove-rights",
        "target": "Troublesome Editor",
        "reason": "userrights granted to the role account",
    }
    status, body = await api.call("POST", f"/api/v1/cases/{case_id}/retries", "alice", order)
    assert status == 403, body  # a case handler may not order restorations
    status, body = await api.call("POST", f"/api/v1/cases/{case_id}/retries", "bob", order)
    assert status == 201, body
    [op] = body["outcome"]["operations"]
    assert op["status"] == "retrying" and "bob" in op["detail"]
    assert body["timeline"][-1]["action"] == "retry-ordered"
    assert "userrights granted" in body["timeline"][-1]["detail"]
    assert (await api.events())[-1] == "RetryOrdered"
    [entry] = [e for e in await api.store.pending_outbox(1000) if e.event.type == RetryOrdered.TYPE]
    assert "signature" in entry.event.data  # enforcement acts only on what review signed
    status, body = await api.call("POST", f"/api/v1/cases/{case_id}/retries", "bob", order)
    assert status == 409 and body["error"] == "not_failed", body
    other = {**order, "target": "Someone Else"}
    status, body = await api.call("POST", f"/api/v1/cases/{case_id}/retries", "bob", other)
    assert status == 422 and fields_and_rules(body) == {("target", "known_operation")}


async def test_a_decision_citing_no_evidence_is_flagged_and_the_policy_may_block_it(
    api: Api,
) -> None:
    """Issue 18: the drafter is warned before sign-off; where the policy says so (a global
    lock in the shipped policy) no approval is taken until evidence is cited."""
    lock = await staff_case(api, action_type="global-lock")
    bare = {k: v for k, v in DECISION.items() if k != "evidence"}
    status, body = await api.call("PUT", f"/api/v1/cases/{lock}/decision", body=bare)
    assert status == 200 and body["warnings"] == ["no-evidence-cited", "evidence-required"]
    signoff = {"level": "case-handler", "verdict": "approve", "comment": "ok"}
    status, body = await api.call("POST", f"/api/v1/cases/{lock}/signoffs", body=signoff)
    assert status == 409 and body["error"] == "no_evidence_cited", body
    assert fields_and_rules(body) == {("evidence", "cited")}
    status, body = await api.call(
        "POST",
        f"/api/v1/cases/{lock}/evidence",
        body={"description": "threat", "where": "on-wiki-public"},
    )
    assert status == 201, body
    status, body = await api.call("PUT", f"/api/v1/cases/{lock}/decision", body=DECISION)
    assert status == 200 and body["warnings"] == []
    status, body = await api.call("POST", f"/api/v1/cases/{lock}/signoffs", body=signoff)
    assert status == 201, body

    warning = await staff_case(api, action_type="conduct-warning")
    status, body = await api.call("PUT", f"/api/v1/cases/{warning}/decision", body=bare)
    assert status == 200 and body["warnings"] == ["no-evidence-cited"]  # warned, not blocked
    status, body = await api.call("POST", f"/api/v1/cases/{warning}/signoffs", body=signoff)
    assert status == 201, body


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=bogus", "state"),
        ("action_type=global-bann", "action_type"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("sort=random", "sort"),
        ("deadline_before=tomorrow", "deadline_before"),
        ("deadline_before=2026-01-01T00:00:00", "deadline_before"),
        ("cursor=abc", "cursor"),
        ("colour=red", "colour"),
        ("submission_id=OA-WALKTHROUGH01", "submission_id"),
    ],
)
async def test_a_bad_queue_query_is_422_naming_the_field(api: Api, query: str, field: str) -> None:
    status, body = await api.call("GET", f"/api/v1/cases?{query}")
    assert status == 422, body
    assert body["error"] == "validation_failed"
    assert [e["field"] for e in body["errors"]] == [field]


WRITES = [
    ("PUT", "/assignee", {"assignee": "nobody-here"}, "assignee"),
    ("POST", "/notes", {"text": ""}, "text"),
    ("POST", "/evidence", {"description": "x", "where": "somewhere"}, "where"),
    # Matches the URL pattern but no reader can parse it (schemathesis found it stored).
    (
        "POST",
        "/evidence",
        {"description": "x", "where": "on-wiki-public", "url": "http://["},
        "url",
    ),
    ("POST", "/links", {"kind": "appeal-of", "case_id": "OA-NOSUCHCASE0"}, "case_id"),
    ("POST", "/merge", {"into": "OA-NOSUCHCASE0"}, "into"),
    ("PUT", "/waiting", {"waiting": "perhaps"}, "waiting"),
    ("PUT", "/decision", {**DECISION, "grounds": ["no-such-clause"]}, "grounds.0"),
    ("PUT", "/determination", {"text": "t", "disclosure": "partial"}, "disclosure"),
    ("POST", "/signoffs", {"level": "case-handler", "verdict": "maybe", "comment": "x"}, "verdict"),
    ("POST", "/reversal", {"grounds": "whim", "reason": "x"}, "grounds"),
    ("POST", "/inquiry-answers", {"answers": []}, "answers"),
    ("POST", "/restorations", {"tampering_id": "T-none"}, "tampering_id"),
]


@pytest.mark.parametrize(("method", "suffix", "body", "field"), WRITES)
async def test_a_bad_write_names_the_field_and_changes_nothing(
    api: Api, method: str, suffix: str, body: Json, field: str
) -> None:
    case_id = await staff_case(api)
    who = "carol" if suffix == "/determination" else "bob"
    before = await api.store.get("cases", case_id)
    status, reply = await api.call(method, f"/api/v1/cases/{case_id}{suffix}", who, body)
    assert status in (404, 422), reply
    assert field in {e["field"] for e in reply["errors"]}, reply
    assert await api.store.get("cases", case_id) == before


@pytest.mark.parametrize(("method", "suffix", "body", "field"), WRITES)
async def test_every_write_needs_a_staff_token(
    api: Api, method: str, suffix: str, body: Json, field: str
) -> None:
    status, reply = await api.call(method, f"/api/v1/cases/OA-ANY{suffix}", None, body)
    assert status == 401 and reply["error"] == "unauthenticated"


async def test_an_auditor_reads_but_cannot_change(api: Api) -> None:
    case_id = await staff_case(api)
    status, _ = await api.call("GET", f"/api/v1/cases/{case_id}", "otto")
    assert status == 200
    status, body = await api.call("PUT", f"/api/v1/cases/{case_id}/decision", "otto", DECISION)
    assert status == 403 and body["error"] == "forbidden"

"""Intake's JSON API for every kind of submission, against the real service in this process.

Real parts: the service as `serve()` runs it (SQLite store, outbox relay, aiohttp), the
Tansu broker it publishes to. The helpers here are shared by the other intake tests.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import openapi_spec_validator
import pytest
import yaml

from casework.cloudevents import CloudEvent
from casework.contract import SubmissionKind, topic_of
from casework.store import open_store
from deploy.broker import TansuBroker
from deploy.credentials import BusCredentials
from services.intake.app import wire
from services.intake.domain.forms import FORMS
from services.intake.entrypoints.examples import examples
from services.intake.policy import rules_of
from services.intake.settings import IntakeSettings
from tests.support import eventually, free_port, serving, topic_events

ROOT = Path(__file__).resolve().parent.parent
POLICY_FILE = ROOT / "policy" / "office-actions.yaml"
TOPIC = topic_of("intake")
WIKI_FARM = "sandbox=http://127.0.0.1:8090/api.php"
WIKI = "http://127.0.0.1:8090"
EXAMPLES = examples(WIKI)
Json = dict[str, Any]


# --- shared helpers -----------------------------------------------------------------------


@dataclass
class Intake:
    url: str
    data_dir: Path
    bootstrap: str

    def submissions_url(self, kind: str) -> str:
        return f"{self.url}/api/v1/submissions/{kind}"

    async def documents(self, collection: str = "submissions") -> list[Json]:
        store = await open_store(f"sqlite:///{self.data_dir / 'intake.sqlite3'}")
        try:
            return await store.find(collection)
        finally:
            await store.close()

    async def pending_outbox(self) -> int:
        store = await open_store(f"sqlite:///{self.data_dir / 'intake.sqlite3'}")
        try:
            return len(await store.pending_outbox(1000))
        finally:
            await store.close()


def settings_for(
    data_dir: Path, broker: TansuBroker, policy_file: Path = POLICY_FILE
) -> IntakeSettings:
    return IntakeSettings(
        data_dir=data_dir,
        port=free_port(),
        kafka_bootstrap=broker.bootstrap,
        kafka_session_timeout_ms=1500,
        policy_file=policy_file,
        wiki_farm=WIKI_FARM,
        form_secret="test-form-secret",
        mail_port=free_port(),
        # Signed in to the test broker as intake (SASL SCRAM, deploy.credentials).
        **BusCredentials.default().service_environment("intake"),
    )


@asynccontextmanager
async def running_intake(settings: IntakeSettings) -> AsyncIterator[Intake]:
    """The intake service as `python -m services.intake` runs it, in this event loop."""
    async with serving(settings, wire, settings.port) as url:
        yield Intake(url, settings.data_dir, settings.kafka_bootstrap)


async def intake_events(bootstrap: str) -> list[CloudEvent]:
    return await topic_events(bootstrap, TOPIC)


async def events_about(bootstrap: str, subject: str) -> list[CloudEvent]:
    return [e for e in await intake_events(bootstrap) if e.subject == subject]


async def the_event(intake: Intake, reference: str) -> CloudEvent:
    """Wait for the one event announcing ``reference``; fail if there are two."""
    found = await eventually(
        lambda: events_about(intake.bootstrap, reference), what=f"the event of {reference}"
    )
    assert len(found) == 1, found
    return found[0]


def example(kind: SubmissionKind, **changes: Any) -> Json:
    body = copy.deepcopy(EXAMPLES[kind])
    body.update(changes)
    return body


async def post(
    http: aiohttp.ClientSession,
    url: str,
    body: Any,
    key: str | None = None,
) -> tuple[int, Json, Any]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    async with http.post(url, json=body, headers=headers) as reply:
        return reply.status, await reply.json(), reply.headers


def fields_and_rules(body: Json) -> set[tuple[str, str]]:
    return {(e["field"], e["rule"]) for e in body["errors"]}


def rate_limited_policy(tmp_path: Path, per_sender: int, per_client: int) -> Path:
    raw = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    raw["intake"]["rate_limits"] = {
        "per_sender": {"max": per_sender, "per_seconds": 3600},
        "per_client": {"max": per_client, "per_seconds": 3600},
    }
    path = tmp_path / "policy-rate-limited.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def intake(
    kafka_broker: TansuBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Intake]:
    async with running_intake(settings_for(tmp_path_factory.mktemp("intake"), kafka_broker)) as it:
        yield it


# --- every kind ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(SubmissionKind))
async def test_every_kind_is_accepted_and_announced_once(
    intake: Intake, http: aiohttp.ClientSession, kind: SubmissionKind
) -> None:
    status, body, _ = await post(http, intake.submissions_url(kind.value), example(kind))
    assert status == 202, body
    assert body["status"] == "received"
    event = await the_event(intake, body["reference"])
    assert event.type == "officeactions.intake.submission-received.v1"
    assert event.data["kind"] == kind.value
    assert event.data["channel"] == "api"
    assert event.data["routed_to"] == intake_rules_team(kind, event.data["action_type"])
    assert event.data["urgent"] is (kind is SubmissionKind.CHILD_PROTECTION_REPORT)

    async with http.get(intake.submissions_url(body["reference"])) as reply:
        assert reply.status == 200
        assert await reply.json() == {
            "reference": body["reference"],
            "kind": kind.value,
            "status": "received",
            "received_at": event.data["received_at"],
            # Until review reports on its case (tests/test_intake_progress.py).
            "history": [{"status": "received", "at": event.data["received_at"]}],
            "appeal_open_until": None,
        }


def intake_rules_team(kind: SubmissionKind, action_type: str | None) -> str:
    from casework.policy import load_policy

    policy = load_policy(POLICY_FILE)
    if kind in (SubmissionKind.REQUEST, SubmissionKind.APPEAL) and action_type:
        return policy.action(action_type).routed_to
    return rules_of(policy).kind(kind.value).routed_to


async def test_the_kind_specific_fields_reach_the_event(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    status, inquiry, _ = await post(
        http, intake.submissions_url("inquiry"), example(SubmissionKind.INQUIRY)
    )
    assert status == 202, inquiry
    event = await the_event(intake, inquiry["reference"])
    assert event.data["questions"] == EXAMPLES[SubmissionKind.INQUIRY]["questions"]
    assert event.data["refers_to"] == "OA-AAAABBBBCCCC"

    status, abuse, _ = await post(
        http, intake.submissions_url("abuse-report"), example(SubmissionKind.ABUSE_REPORT)
    )
    assert status == 202, abuse
    event = await the_event(intake, abuse["reference"])
    assert event.data["named_staff"] == ["Staff Member (WMF)"]


async def test_the_old_requests_route_is_the_request_kind(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await post(
        http, f"{intake.url}/api/v1/requests", example(SubmissionKind.REQUEST)
    )
    assert status == 202, body
    event = await the_event(intake, body["reference"])
    assert event.data["kind"] == "request"


# --- rejections ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "changes", "expected"),
    [
        ("request", {"action": "exile"}, {("action", "one_of")}),
        ("request", {"prior_attempts": []}, {("prior_attempts", "required_by_policy")}),
        ("request", {"summary": "short"}, {("summary", "string_too_short")}),
        (
            "request",
            {
                "evidence": [
                    {
                        "url": "https://elsewhere.example/d",
                        "description": "x",
                        "where": "on-wiki-public",
                    }
                ]
            },
            {("evidence.0.url", "wiki_host")},
        ),
        (
            "dmca-notice",
            {"signature": None, "accuracy_statement": False},
            {("signature", "required_by_policy"), ("accuracy_statement", "required_by_policy")},
        ),
        ("child-protection-report", {"summary": ""}, {("summary", "string_too_short")}),
        ("appeal", {"action": "conduct-warning"}, {("action", "appealable")}),
        (
            "appeal",
            {"action": "dmca-takedown", "action_date": "2020-01-01"},
            {("action_date", "appeal_window")},
        ),
        (
            "breach-report",
            {"breach": "event-presence"},
            {("banned_event", "required_for_event_presence")},
        ),
        ("abuse-report", {"named_staff": []}, {("named_staff", "too_short")}),
        ("inquiry", {"questions": []}, {("questions", "too_short")}),
        ("inquiry", {"colour": "blue"}, {("colour", "extra_forbidden")}),
    ],
)
async def test_each_rule_rejects_with_422_naming_field_and_rule_and_stores_nothing(
    intake: Intake,
    http: aiohttp.ClientSession,
    kind: str,
    changes: Json,
    expected: set[tuple[str, str]],
) -> None:
    body = copy.deepcopy(EXAMPLES[SubmissionKind(kind)])
    for name, value in changes.items():
        if value is None:
            del body[name]
        else:
            body[name] = value
    before = len(await intake.documents())
    status, reply, _ = await post(http, intake.submissions_url(kind), body, key=str(uuid.uuid4()))
    assert status == 422, reply
    assert reply["error"] == "validation_failed"
    assert fields_and_rules(reply) == expected
    assert len(await intake.documents()) == before


async def test_text_that_is_not_unicode_is_refused_not_stored(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    """A lone surrogate is valid JSON but no text: stored, it could never be published."""
    raw = json.dumps(example(SubmissionKind.INQUIRY, questions=["PLACEHOLDER"]))
    raw = raw.replace("PLACEHOLDER", "Why?\\ud800")
    before = len(await intake.documents())
    async with http.post(
        intake.submissions_url("inquiry"),
        data=raw.encode(),
        headers={"Content-Type": "application/json"},
    ) as reply:
        body = await reply.json()
        assert reply.status == 422, body
    assert fields_and_rules(body) == {("body", "utf8")}
    assert len(await intake.documents()) == before


async def test_a_body_over_the_size_limit_is_413_and_not_read(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    body = example(SubmissionKind.REQUEST, summary="x" * 2_000_000)
    before = len(await intake.documents())
    async with http.post(intake.submissions_url("request"), json=body) as reply:
        assert reply.status == 413, await reply.text()
        assert reply.content_type == "application/json"
    assert len(await intake.documents()) == before


async def test_an_unknown_kind_is_404(intake: Intake, http: aiohttp.ClientSession) -> None:
    status, body, _ = await post(http, intake.submissions_url("complaint"), {})
    assert status == 404, body
    assert fields_and_rules(body) == {("kind", "one_of")}


async def test_an_unknown_reference_is_404(intake: Intake, http: aiohttp.ClientSession) -> None:
    async with http.get(intake.submissions_url("R-AAAAAAAAAAAA")) as reply:
        assert reply.status == 404
        assert fields_and_rules(await reply.json()) == {("reference", "exists")}


# --- idempotency, duplicates, screening ---------------------------------------------------


async def test_a_retried_post_is_replayed_once_and_a_reused_key_is_409(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    key = f"retry-{uuid.uuid4()}"
    url = intake.submissions_url("appeal")
    first = await post(http, url, example(SubmissionKind.APPEAL), key)
    second = await post(http, url, example(SubmissionKind.APPEAL), key)
    assert (first[0], second[0]) == (202, 202), (first[1], second[1])
    assert first[1]["reference"] == second[1]["reference"]
    assert "Idempotent-Replayed" not in first[2]
    assert second[2]["Idempotent-Replayed"] == "true"

    other_kind = await post(
        http, intake.submissions_url("inquiry"), example(SubmissionKind.INQUIRY), key
    )
    assert other_kind[0] == 409, other_kind[1]
    assert fields_and_rules(other_kind[1]) == {("Idempotency-Key", "same_body")}
    await the_event(intake, first[1]["reference"])  # exactly one


async def test_a_second_request_for_the_same_target_links_to_the_first(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    account = f"Repeat Offender {uuid.uuid4().hex[:6]}"
    body = example(SubmissionKind.REQUEST, subject={"account": account, "wikis": []})
    status, first, _ = await post(http, intake.submissions_url("request"), body)
    assert status == 202, first
    again = {**body, "summary": body["summary"] + " Reported again by someone else."}
    again["subject"] = {"account": account.replace(" ", "_"), "wikis": []}
    status, second, _ = await post(http, intake.submissions_url("request"), again)
    assert status == 202, second
    assert second["reference"] != first["reference"]
    first_event = await the_event(intake, first["reference"])
    second_event = await the_event(intake, second["reference"])
    assert first_event.data["duplicate_of"] is None
    assert second_event.data["duplicate_of"] == first["reference"]
    # A third request names the original too, not the second (a duplicate itself).
    third_body = {**body, "summary": body["summary"] + " And a third time."}
    status, third_again, _ = await post(http, intake.submissions_url("request"), third_body)
    assert status == 202, third_again
    third_event = await the_event(intake, third_again["reference"])
    assert third_event.data["duplicate_of"] == first["reference"]

    other_action = {**again, "action": "global-lock"}
    status, third, _ = await post(http, intake.submissions_url("request"), other_action)
    assert status == 202, third
    assert (await the_event(intake, third["reference"])).data["duplicate_of"] is None


async def test_a_threatening_request_is_kept_and_flagged_for_triage(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    body = example(
        SubmissionKind.REQUEST,
        summary="Ban this user today or else. I know where you live, whoever reads this.",
    )
    status, reply, _ = await post(http, intake.submissions_url("request"), body)
    assert status == 202, reply
    event = await the_event(intake, reply["reference"])
    assert [f["rule"] for f in event.data["screening"]] == ["threat-to-staff"]
    assert event.data["screening"][0]["reason"] == "threatens or intimidates staff"


# --- OpenAPI ------------------------------------------------------------------------------


async def test_the_openapi_document_covers_every_route_and_its_examples_are_accepted(
    intake: Intake, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{intake.url}/api/v1/openapi.json") as reply:
        assert reply.status == 200
        document = await reply.json()
    assert document["openapi"].startswith("3.1")
    openapi_spec_validator.validate(document)  # a valid OpenAPI 3.1 document
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    served = set()
    for kind in SubmissionKind:
        served.add((f"/api/v1/submissions/{kind.value}", "POST"))
    served |= {
        ("/api/v1/requests", "POST"),
        ("/api/v1/submissions/{reference}", "GET"),
        ("/api/v1/openapi.json", "GET"),
    }
    assert served <= documented
    schemas = document["components"]["schemas"]
    for kind, model in FORMS.items():
        operation = document["paths"][f"/api/v1/submissions/{kind.value}"]["post"]
        content = operation["requestBody"]["content"]["application/json"]
        assert content["schema"]["$ref"].endswith(model.__name__)
        assert model.__name__ in schemas
        assert {"202", "422", "429"} <= set(operation["responses"])
        [sample] = [e["value"] for e in content["examples"].values()]
        status, body, _ = await post(http, intake.submissions_url(kind.value), sample)
        assert status == 202, (kind, body)
    request_summary = schemas["RequestForm"]["properties"]["summary"]
    assert request_summary["minLength"] == 20  # the policy's bound, not the shape's


# --- rate limits --------------------------------------------------------------------------


async def test_over_the_sender_limit_is_429_with_retry_after_and_survives_a_restart(
    kafka_broker: TansuBroker, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    policy = rate_limited_policy(tmp_path, per_sender=2, per_client=100)
    body = example(SubmissionKind.INQUIRY)
    async with running_intake(settings_for(tmp_path / "data", kafka_broker, policy)) as intake:
        for _ in range(2):
            status, reply, _ = await post(http, intake.submissions_url("inquiry"), body)
            assert status == 202, reply
        status, reply, headers = await post(http, intake.submissions_url("inquiry"), body)
        assert status == 429, reply
        assert reply["error"] == "rate_limited"
        assert fields_and_rules(reply) == {("sender", "rate_limit")}
        assert 1 <= int(headers["Retry-After"]) <= 3600
        # Another sender from the same address is still welcome.
        other = {**body, "requester": {**body["requester"], "email": "other@example.org"}}
        status, reply, _ = await post(http, intake.submissions_url("inquiry"), other)
        assert status == 202, reply
        stored = len(await intake.documents())
    async with running_intake(settings_for(tmp_path / "data", kafka_broker, policy)) as intake:
        status, reply, headers = await post(http, intake.submissions_url("inquiry"), body)
        assert status == 429, reply
        assert "Retry-After" in headers
        assert len(await intake.documents()) == stored


async def test_over_the_client_address_limit_is_429(
    kafka_broker: TansuBroker, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    policy = rate_limited_policy(tmp_path, per_sender=100, per_client=3)
    async with running_intake(settings_for(tmp_path / "data", kafka_broker, policy)) as intake:
        for i in range(3):
            body = example(SubmissionKind.INQUIRY)
            body["requester"] = {**body["requester"], "email": f"sender{i}@example.org"}
            status, reply, _ = await post(http, intake.submissions_url("inquiry"), body)
            assert status == 202, reply
        status, reply, headers = await post(
            http, intake.submissions_url("inquiry"), example(SubmissionKind.INQUIRY)
        )
        assert status == 429, reply
        assert fields_and_rules(reply) == {("client", "rate_limit")}
        assert int(headers["Retry-After"]) >= 1

"""Intake's rules: the shape of a request, the policy's rules, submission ids and routing."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from casework.contract import Channel, SubmissionKind
from casework.policy import load_policy
from services.intake.domain import (
    SUMMARY_MAX,
    SUMMARY_MIN,
    RequestForm,
    accept,
    fingerprint,
    new_submission_id,
    policy_errors,
)

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

Loc = tuple[str | int, ...]
Change = tuple[Loc, Any]  # (path into the request, new value or None to delete)

VALID: dict[str, Any] = {
    "action": "global-ban",
    "summary": "Cross-wiki harassment of several editors after local blocks failed.",
    "subject": {"account": "Troublesome Editor", "wikis": ["enwiki", "dewiki"]},
    "evidence": [
        {
            "url": "https://en.example.org/wiki/Special:Diff/123",
            "description": "Threat left on a user talk page",
            "where": "on-wiki-public",
        }
    ],
    "prior_attempts": ["https://en.example.org/wiki/Wikipedia:ANI#Troublesome_Editor"],
    "requester": {"name": "Reporter Person", "email": "reporter@example.org", "language": "en"},
}


def request(*changes: Change) -> dict[str, Any]:
    """The valid request with each (path, value) change applied; value None deletes the key."""
    raw = copy.deepcopy(VALID)
    for path, value in changes:
        target = raw
        for part in path[:-1]:
            target = target[part]
        if value is None:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return raw


def form(*changes: Change) -> RequestForm:
    return RequestForm.model_validate(request(*changes))


def locs(raw: dict[str, Any]) -> list[Loc]:
    with pytest.raises(ValidationError) as caught:
        RequestForm.model_validate(raw)
    return [tuple(e["loc"]) for e in caught.value.errors()]


# --- policy rules -----------------------------------------------------------------------------


def test_a_valid_request_passes() -> None:
    assert policy_errors(form(), POLICY) == []


def test_unknown_action() -> None:
    errors = policy_errors(form((("action",), "permaban")), POLICY)
    assert [(e.field, e.rule) for e in errors] == [("action", "one_of")]
    assert "permaban" in errors[0].message
    assert "global-ban" in errors[0].message


def test_global_ban_requires_prior_attempts() -> None:
    errors = policy_errors(form((("prior_attempts",), None)), POLICY)
    assert [(e.field, e.rule) for e in errors] == [("prior_attempts", "required_by_policy")]
    errors = policy_errors(form((("prior_attempts",), [])), POLICY)
    assert [(e.field, e.rule) for e in errors] == [("prior_attempts", "required_by_policy")]


def test_dmca_takedown_needs_no_prior_attempts() -> None:
    raw = form((("action",), "dmca-takedown"), (("prior_attempts",), None))
    assert policy_errors(raw, POLICY) == []


# --- shape of a request -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ((("summary",), "x" * (SUMMARY_MIN - 1)), ("summary",)),
        ((("summary",), "x" * (SUMMARY_MAX + 1)), ("summary",)),
        ((("evidence", 0, "url"), "javascript:alert(1)"), ("evidence", 0, "url")),
        ((("evidence", 0, "url"), "ftp://files.example.org/x"), ("evidence", 0, "url")),
        ((("evidence", 0, "where"), "in-a-dream"), ("evidence", 0, "where")),
        ((("evidence",), []), ("evidence",)),
        ((("requester", "email"), "not-an-address"), ("requester", "email")),
        ((("requester", "email"), "a b@example.org"), ("requester", "email")),
        ((("requester",), None), ("requester",)),
        ((("subject", "account"), "Bad[[Name]]"), ("subject", "account")),
        ((("prior_attempts", 0), "javascript:void(0)"), ("prior_attempts", 0)),
        ((("priority",), "urgent"), ("priority",)),
    ],
    ids=[
        "summary-too-short",
        "summary-too-long",
        "evidence-javascript-url",
        "evidence-ftp-url",
        "evidence-unknown-where",
        "no-evidence",
        "bad-email",
        "email-with-space",
        "no-requester",
        "account-with-wikitext",
        "prior-attempt-not-http",
        "extra-field",
    ],
)
def test_shape_errors(change: Change, loc: Loc) -> None:
    assert loc in locs(request(change))


def test_summary_limits_are_inclusive() -> None:
    form((("summary",), "x" * SUMMARY_MIN))
    form((("summary",), "x" * SUMMARY_MAX))


def test_unknown_nested_field_is_rejected() -> None:
    assert ("subject", "wiki") in locs(request((("subject", "wiki"), ["enwiki"])))


# --- submission ids ---------------------------------------------------------------------------

ID = re.compile(r"^R-[A-Z2-7]{12}$")


def test_submission_id_is_deterministic_per_idempotency_key() -> None:
    first = new_submission_id("client-key-1")
    assert first == new_submission_id("client-key-1")
    assert first != new_submission_id("client-key-2")
    assert ID.match(first)


def test_submission_id_without_key_is_random() -> None:
    ids = {new_submission_id(None) for _ in range(50)}
    assert len(ids) == 50
    assert all(ID.match(i) for i in ids)


# --- accept -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "team"),
    [("global-ban", "support-and-safety"), ("dmca-takedown", "legal")],
)
def test_accept_routes_by_policy(action: str, team: str) -> None:
    accepted = form((("action",), action))
    document, event = accept(
        accepted, POLICY, submission_id="R-AAAABBBBCCCC", channel=Channel.API, now=NOW
    )
    assert event.routed_to == team
    assert event.action_type == action
    assert event.kind is SubmissionKind.REQUEST
    assert event.submission_id == document["_id"] == "R-AAAABBBBCCCC"
    assert event.received_at == NOW
    assert event.requester.model_dump() == accepted.requester.model_dump()
    assert document["submission"] == event.model_dump(mode="json")
    assert document["fingerprint"] == fingerprint(accepted)


def test_fingerprint_tells_different_requests_apart() -> None:
    assert fingerprint(form()) == fingerprint(form())
    assert fingerprint(form()) != fingerprint(form((("summary",), VALID["summary"] + "!")))

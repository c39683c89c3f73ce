"""Intake's rules: what a request must contain, checked against the policy. No I/O."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from casework.contract import (
    Channel,
    EvidenceItem,
    Requester,
    Subject,
    SubmissionKind,
    SubmissionReceived,
)
from casework.errors import FieldError
from casework.policy import Policy

SUMMARY_MIN = 20
SUMMARY_MAX = 5000


# Input parts: a misspelt field is an error, not silently dropped (events stay tolerant).
class SubjectInput(Subject):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceInput(EvidenceItem):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequesterInput(Requester):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestForm(BaseModel):
    """A request for an office action, as the JSON API accepts it."""

    model_config = ConfigDict(extra="forbid")

    action: Annotated[str, Field(min_length=1, max_length=64)]
    summary: Annotated[str, Field(min_length=SUMMARY_MIN, max_length=SUMMARY_MAX)]
    subject: SubjectInput
    evidence: Annotated[list[EvidenceInput], Field(min_length=1, max_length=200)]
    prior_attempts: Annotated[
        list[Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)]],
        Field(max_length=50),
    ] = []
    requester: RequesterInput


def policy_errors(form: RequestForm, policy: Policy) -> list[FieldError]:
    """The rules that come from the policy file rather than from the shape of a request."""
    action = policy.action_types.get(form.action)
    if action is None:
        return [
            FieldError(
                "action",
                "one_of",
                f"unknown action {form.action!r}; one of: {', '.join(sorted(policy.action_types))}",
            )
        ]
    if action.requires_prior_attempts and not form.prior_attempts:
        return [
            FieldError(
                "prior_attempts",
                "required_by_policy",
                f"a {action.title.lower()} request must link to the earlier attempts to resolve "
                "the issue through local community processes",
            )
        ]
    return []


def new_submission_id(idempotency_key: str | None) -> str:
    """Random, or derived from the client's idempotency key so a retried POST finds its twin."""
    raw = (
        hashlib.sha256(idempotency_key.encode()).digest()
        if idempotency_key
        else secrets.token_bytes(16)
    )
    return "R-" + base64.b32encode(raw).decode().rstrip("=")[:12]


def fingerprint(form: RequestForm) -> str:
    canonical = json.dumps(form.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def accept(
    form: RequestForm, policy: Policy, *, submission_id: str, channel: Channel, now: datetime
) -> tuple[dict[str, Any], SubmissionReceived]:
    """The stored submission and the event announcing it. Call after policy_errors is empty."""
    event = SubmissionReceived(
        submission_id=submission_id,
        kind=SubmissionKind.REQUEST,
        channel=channel,
        action_type=form.action,
        routed_to=policy.action(form.action).routed_to,
        summary=form.summary,
        subject=Subject.model_validate(form.subject.model_dump()),
        evidence=[EvidenceItem.model_validate(e.model_dump()) for e in form.evidence],
        prior_attempts=form.prior_attempts,
        requester=Requester.model_validate(form.requester.model_dump()),
        received_at=now,
    )
    document = {
        "_id": submission_id,
        "fingerprint": fingerprint(form),
        "received_at": now.isoformat(),
        "submission": event.model_dump(mode="json"),
    }
    return document, event

"""Intake's decisions about an accepted submission: its id, fingerprint and event. No I/O."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Sequence
from datetime import datetime

from casework.contract import Channel, Requester, SubmissionReceived
from casework.contract.intake import Attachment, ScreeningFlag
from services.intake.domain.forms import Form
from services.intake.domain.rules import Rules


def new_submission_id() -> str:
    """Random (60 bits): a reference tells nothing about the submitter and cannot be guessed.
    A submission with an Idempotency-Key gets a keyed hash of it instead (adapters/references.py),
    which no client can predict either."""
    return "R-" + base64.b32encode(secrets.token_bytes(10)).decode()[:12]


def fingerprint(form: Form) -> str:
    """Tells a retried submission (same key, same content) from a reused key."""
    dumped = form.model_dump(mode="json")
    # The opt-in left at its default prints as before it existed: a retry across the
    # upgrade still matches its first submission.
    if (dumped.get("requester") or {}).get("named_publicly") is False:
        del dumped["requester"]["named_publicly"]
    canonical = json.dumps(
        {"kind": form.KIND.value, "form": dumped},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def accept(
    form: Form,
    rules: Rules,
    *,
    submission_id: str,
    channel: Channel,
    now: datetime,
    screening: Sequence[ScreeningFlag] = (),
    duplicate_of: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> SubmissionReceived:
    """The event announcing an accepted submission. Call after rules.check found nothing."""
    kind_rules = rules.of(form)
    action_type = form.action_type() or kind_rules.action_type
    routed_to = kind_rules.routed_to
    if form.action_type() is not None and action_type in rules.policy.action_types:
        routed_to = rules.policy.action(action_type).routed_to
    requester = form.requester_of()
    return SubmissionReceived(
        submission_id=submission_id,
        kind=form.KIND,
        channel=channel,
        action_type=action_type,
        routed_to=routed_to,
        summary=form.summary_text(),
        requester=Requester.model_validate(requester.model_dump()) if requester else None,
        received_at=now,
        urgent=kind_rules.urgent,
        screening=list(screening),
        duplicate_of=duplicate_of,
        attachments=list(attachments),
        **form.event_fields(),
    )

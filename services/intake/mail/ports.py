"""What the mail channel needs from intake's use cases (services/intake/submissions.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from casework.contract import Channel, SubmissionKind
from casework.errors import FieldError
from services.intake.rate_limits import RateLimited
from services.intake.submissions import Accepted, IncomingAttachment, Recorded

__all__ = ["Accepted", "IncomingAttachment", "RateLimited", "Recorded", "SubmissionPort"]


class SubmissionPort(Protocol):
    async def submit(
        self,
        kind: SubmissionKind,
        payload: Mapping[str, Any],
        *,
        channel: Channel,
        idempotency_key: str | None,
        sender: str | None = None,
        client: str | None = None,
        message_id: str | None = None,
        attachments: Sequence[IncomingAttachment] = (),
    ) -> Accepted: ...

    async def report_incomplete(
        self,
        kind: SubmissionKind,
        missing: Sequence[FieldError],
        *,
        channel: Channel,
        requester_email: str,
        requester_name: str = "",
        language: str = "en",
        message_id: str | None = None,
        client: str | None = None,
        answer: bool = True,
    ) -> Recorded: ...

    async def add_correspondence(
        self,
        reference: str,
        *,
        channel: Channel,
        sender: str,
        text: str,
        message_id: str | None = None,
        attachments: Sequence[IncomingAttachment] = (),
        answered: Sequence[str] = (),
    ) -> bool: ...

    async def reference_for_message(self, message_ids: Sequence[str]) -> str | None: ...

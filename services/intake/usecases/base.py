"""What intake's use cases share: the store, relay, rules and clock, the limits and reference
keys, validating a form, the collections documents are kept in, and the small helpers that
turn input into stored documents."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from casework.contract import Channel, SubmissionKind, topic_of
from casework.contract.intake import Attachment
from casework.errors import Kind, Rejected
from casework.http import field_errors
from casework.outbox import OutboxRelay
from casework.store import DocumentStore
from services.intake.adapters.backscatter import AnswerWindow
from services.intake.adapters.progress import ProgressBook
from services.intake.adapters.rate_limits import RateLimiter
from services.intake.adapters.references import ReferenceKeys
from services.intake.domain.addresses import AddressError, normalised
from services.intake.domain.forms import FORMS, Form
from services.intake.domain.rules import AttachmentInfo, Rules, check, check_attachments

SUBMISSIONS = "submissions"
INCOMPLETE = "incomplete"
CORRESPONDENCE = "correspondence"
IDEMPOTENCY_FIELD = "Idempotency-Key"
TOPIC = topic_of("intake")

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class IncomingAttachment:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Accepted:
    reference: str
    replayed: bool


@dataclass(frozen=True)
class Recorded:
    """An incomplete submission recorded; ``answered`` when notify is asked to answer it."""

    reference: str
    answered: bool


def _utc_now() -> datetime:
    return datetime.now(UTC)


class UseCaseBase:
    """The parts every use case works with; ``Submissions`` (usecases/__init__.py) is the
    use cases put together on one base."""

    def __init__(
        self,
        store: DocumentStore,
        relay: OutboxRelay,
        rules: Rules,
        *,
        clock: Clock = _utc_now,
    ) -> None:
        self.store = store
        self.relay = relay
        self.rules = rules
        self.clock = clock
        self.limiter = RateLimiter(store, rules.intake.rate_limits)
        limits = rules.intake.rate_limits
        self.answers = AnswerWindow(store, limits.incomplete_answer_window_seconds)
        self.keys = ReferenceKeys(store)
        self.progress = ProgressBook(store)
        self._context = {
            "summary_bounds": {
                kind: (bounds.summary.min_chars, bounds.summary.max_chars)
                for kind, bounds in rules.intake.kinds.items()
            }
        }

    async def prepare(self) -> None:
        """Indexes the lookups use; call once at start-up."""
        await self.store.ensure_index(SUBMISSIONS, "target", "received_at")  # duplicates
        await self.store.ensure_index(SUBMISSIONS, "message_id")
        await self.store.ensure_index(CORRESPONDENCE, "message_id")
        await self.store.ensure_index(CORRESPONDENCE, "submission_id")
        await self.keys.reference_key()

    def validate(self, kind: SubmissionKind, payload: Mapping[str, Any]) -> Form:
        """The input model of ``kind`` with every rule of the policy checked, or Rejected."""
        _require_utf8(payload, "body")
        try:
            form = FORMS[kind].model_validate(payload, context=self._context)
        except ValidationError as exc:
            raise Rejected(Kind.INVALID, "validation_failed", field_errors(exc)) from exc
        errors = check(form, self.rules, self.clock().date())
        if errors:
            raise Rejected(Kind.INVALID, "validation_failed", errors)
        return form

    def _check_attachments(self, attachments: Sequence[IncomingAttachment]) -> None:
        errors = check_attachments(
            [AttachmentInfo(a.name, a.content_type, len(a.data)) for a in attachments], self.rules
        )
        if errors:
            raise Rejected(Kind.INVALID, "validation_failed", errors)

    async def _claimed(self, claim_id: str, print_: str) -> str | None:
        """The reference an earlier intake's record of this idempotency key claimed (None when
        there are no such records); 409 when that use was for a different submission."""
        claim = await self.keys.legacy_claim(claim_id)
        if claim is None:
            return None
        if claim["fingerprint"] != print_:
            raise _key_reused()
        return str(claim["reference"])


def _hashed_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return prefix + base64.b32encode(digest).decode().rstrip("=")[:12]


def _scope(channel: Channel, sender: str | None, client: str | None) -> str:
    """Whose idempotency keys these are: the sender's address for mail, else the client's
    network address; one client's key never answers (or blocks) another's."""
    if channel is Channel.EMAIL and sender:
        return f"mail:{sender.casefold()}"
    return f"{channel.value}:{client or 'unknown'}"


def _claim_id(what: str, scope: str, key: str) -> str:
    return "K-" + hashlib.sha256("\x1f".join((what, scope, key)).encode()).hexdigest()[:40]


def _address_of(*candidates: str | None) -> str | None:
    """The first candidate that is a valid address, normalised."""
    for candidate in candidates:
        if candidate:
            try:
                return normalised(candidate)
            except AddressError:
                continue
    return None


def _key_reused() -> Rejected:
    return Rejected.one(
        Kind.CONFLICT,
        "idempotency_key_reused",
        IDEMPOTENCY_FIELD,
        "same_body",
        "this key was already used for a different submission",
    )


def _require_utf8(value: Any, field: str) -> None:
    """Refuse text that cannot be written as UTF-8 (lone surrogates from JSON escapes): it
    would be stored, then fail to publish forever."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError) as exc:
        raise Rejected.one(
            Kind.INVALID, "validation_failed", field, "utf8", "must be valid Unicode text"
        ) from exc


def _kept(attachment: IncomingAttachment) -> tuple[Attachment, dict[str, str]]:
    """The attachment's metadata for the event, and its bytes for intake's own store."""
    digest = hashlib.sha256(attachment.data).hexdigest()
    meta = Attachment(
        name=attachment.name.encode("utf-8", "replace").decode("utf-8")[:255],
        content_type=attachment.content_type.encode("ascii", "replace")
        .decode("ascii")
        .split(";")[0]
        .strip()
        .lower(),
        size=len(attachment.data),
        sha256=digest,
    )
    return meta, {"sha256": digest, "data": base64.b64encode(attachment.data).decode()}

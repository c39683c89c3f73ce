"""Taking in a submission, whatever the channel: validate, screen, rate-limit, store with its
event in one write. The API, the web form and the mail channel all come through here."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from casework.contract import (
    Channel,
    CorrespondenceReceived,
    SubmissionIncomplete,
    SubmissionKind,
    to_cloudevent,
    topic_of,
)
from casework.contract.intake import Attachment, MissingElement
from casework.errors import FieldError, Kind, Rejected
from casework.faults import crash_point
from casework.http import field_errors
from casework.outbox import OutboxRelay
from casework.store import DocumentStore, DuplicateDocument, OutboxMessage
from services.intake.addresses import AddressError, normalised, same_mailbox
from services.intake.backscatter import AnswerWindow
from services.intake.domain import accept, fingerprint, new_submission_id
from services.intake.forms import FORMS, Form
from services.intake.rate_limits import RateLimited, RateLimiter
from services.intake.rules import AttachmentInfo, Rules, check, check_attachments, screen
from services.intake.rules import duplicate_of as find_duplicate

__all__ = [
    "Accepted",
    "IncomingAttachment",
    "RateLimited",
    "Recorded",
    "Submissions",
]

SUBMISSIONS = "submissions"
INCOMPLETE = "incomplete"
CORRESPONDENCE = "correspondence"
IDEMPOTENCY = "idempotency"  # written by intakes before references came from keys
KEYS = "intake_keys"
REFERENCE_KEY = "reference"
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


def _hashed_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return prefix + base64.b32encode(digest).decode().rstrip("=")[:12]


class Submissions:
    """The use cases every channel calls. Each accepted submission is one store insert that
    carries its event (the outbox), so it is announced exactly when it is stored."""

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
        self._key: bytes | None = None
        self._key_lock = asyncio.Lock()
        self._legacy_claims = True  # until the key is loaded and the store looked at
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
        await self._reference_key()

    # -- submissions -----------------------------------------------------------------

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
    ) -> Accepted:
        """Accept a submission of ``kind`` (``payload`` shaped as the API body of that kind).

        Raises Rejected naming each field and rule (nothing stored), or RateLimited.
        A repeated idempotency key with the same content answers the first reference.
        """
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
            raise Rejected.one(
                Kind.INVALID,
                "validation_failed",
                IDEMPOTENCY_FIELD,
                "length",
                "must be 1 to 200 characters",
            )
        form = self.validate(kind, payload)
        attachment_errors = check_attachments(
            [AttachmentInfo(a.name, a.content_type, len(a.data)) for a in attachments], self.rules
        )
        if attachment_errors:
            raise Rejected(Kind.INVALID, "validation_failed", attachment_errors)
        print_ = fingerprint(form)
        requester = form.requester_of()
        target = form.target()
        now = self.clock()
        # Reads first, together: the key's earlier submission, an earlier duplicate. Then the
        # limits (one counter write per window, shared by the submissions arriving with it),
        # then the one insert, which settles a twin request with the same key.
        if idempotency_key:
            claim_id = _claim_id("submission", _scope(channel, sender, client), idempotency_key)
            submission_id = await self._keyed_reference(claim_id)
            existing, claimed, duplicate = await asyncio.gather(
                self.store.get(SUBMISSIONS, submission_id),
                self._claimed(claim_id, print_),
                self._duplicate(target, now),
            )
            if existing is not None:
                return self._replay(existing, print_, submission_id)
            if claimed is not None:  # a key claimed before references came from keys
                if await self.store.get(SUBMISSIONS, claimed):
                    return Accepted(claimed, replayed=True)
                submission_id = claimed  # claimed, then not stored (a crash): finish it
        else:
            submission_id = new_submission_id()
            duplicate = await self._duplicate(target, now)
        await self.limiter.consume(
            sender=sender or (requester.email if requester else None),
            client=client,
            now=now,
            mail=channel is Channel.EMAIL,
        )
        kept = [_kept(a) for a in attachments]
        event = accept(
            form,
            self.rules,
            submission_id=submission_id,
            channel=channel,
            now=now,
            screening=screen(form, self.rules),
            duplicate_of=duplicate,
            attachments=[meta for meta, _ in kept],
        )
        document = {
            "_id": submission_id,
            "kind": kind.value,
            "channel": channel.value,
            "fingerprint": print_,
            "received_at": now.isoformat(),
            "target": target,
            "message_id": message_id,
            # The address the submission was made with: mail from it speaks for the requester.
            "requester_address": _address_of(
                sender if channel is Channel.EMAIL else None,
                requester.email if requester else None,
            ),
            "submission": event.model_dump(mode="json"),
            "attachment_data": [data for _, data in kept],
        }
        try:
            await self.store.insert(
                SUBMISSIONS, document, outbox=[OutboxMessage(TOPIC, to_cloudevent(event))]
            )
        except DuplicateDocument:
            again = await self.store.get(SUBMISSIONS, submission_id)
            assert again is not None
            return self._replay(again, print_, submission_id)
        crash_point("intake.after-store")
        self.relay.wake()
        return Accepted(submission_id, replayed=False)

    async def _keyed_reference(self, claim_id: str) -> str:
        """The reference a key's submission gets: the same for every retry and instance,
        unguessable without the store's own key (so not predictable from a client's key)."""
        key = await self._reference_key()
        digest = hmac.new(key, claim_id.encode(), hashlib.sha256).digest()
        return "R-" + base64.b32encode(digest).decode()[:12]

    async def _reference_key(self) -> bytes:
        """The store's reference key, made by the first instance that needs it."""
        if self._key is not None:
            return self._key
        async with self._key_lock:
            if self._key is None:
                stored = await self.store.get(KEYS, REFERENCE_KEY)
                if stored is None:
                    try:
                        stored = await self.store.insert(
                            KEYS, {"_id": REFERENCE_KEY, "key": secrets.token_hex(32)}
                        )
                    except DuplicateDocument:  # another instance made it first
                        stored = await self.store.get(KEYS, REFERENCE_KEY)
                        assert stored is not None
                # Keys claimed by an intake from before (one record per key) are honoured.
                self._legacy_claims = bool(await self.store.find(IDEMPOTENCY, limit=1))
                self._key = bytes.fromhex(stored["key"])
            return self._key

    async def _claimed(self, claim_id: str, print_: str) -> str | None:
        """The reference an earlier intake's record of this idempotency key claimed (None when
        there are no such records); 409 when that use was for a different submission."""
        if not self._legacy_claims:
            return None
        claim = await self.store.get(IDEMPOTENCY, claim_id)
        if claim is None:
            return None
        if claim["fingerprint"] != print_:
            raise _key_reused()
        return str(claim["reference"])

    def _replay(self, existing: Mapping[str, Any], print_: str, submission_id: str) -> Accepted:
        if existing.get("fingerprint") != print_:
            raise _key_reused()
        return Accepted(submission_id, replayed=True)

    async def _duplicate(self, target: str | None, now: datetime) -> str | None:
        if not target:
            return None
        window = self.rules.intake.duplicate_window_days
        earlier = await self.store.find(
            SUBMISSIONS, {"target": target}, order_by="received_at", descending=True, limit=20
        )
        return find_duplicate(
            [(d["_id"], datetime.fromisoformat(d["received_at"])) for d in earlier], now, window
        )

    async def status(self, reference: str) -> Mapping[str, Any] | None:
        """What the submitter may see of their submission: kind, status, when received."""
        document = await self.store.get(SUBMISSIONS, reference)
        if document is None:
            return None
        return {
            "reference": reference,
            "kind": document["kind"],
            "status": "received",
            "received_at": document["submission"]["received_at"],
        }

    # -- the mail channel's other cases -----------------------------------------------

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
    ) -> Recorded:
        """Record that a submission lacked ``missing`` and, when it may, ask notify to say so;
        once per message and sender. Returns the reference the requester quotes when replying.

        Answered at most once per address in the policy's rolling window (later ones are
        recorded unanswered), never when ``answer`` is False (automated or list mail), and
        within the connecting client's limit (else RateLimited: deliver again later)."""
        claim_id = (
            _claim_id("incomplete", requester_email.casefold(), message_id) if message_id else None
        )
        reference = None
        if claim_id is not None:
            reference = await self._keyed_reference(claim_id)
            stored, claimed = await asyncio.gather(
                self.store.get(INCOMPLETE, reference), self._claimed(claim_id, kind.value)
            )
            if claimed is not None:  # claimed before references came from keys
                reference = claimed
                stored = await self.store.get(INCOMPLETE, claimed)
            if stored is not None:
                if stored["incomplete"]["kind"] != kind.value:
                    raise _key_reused()
                return Recorded(reference, bool(stored.get("answered", True)))
        now = self.clock()
        try:  # checked before anything is counted or claimed; the reference comes after
            event = SubmissionIncomplete(
                reference="",
                kind=kind,
                channel=channel,
                missing=[
                    MissingElement(field=m.field, rule=m.rule, message=m.message) for m in missing
                ],
                requester_email=requester_email,
                requester_name=requester_name,
                language=language,
                in_reply_to=message_id,
                received_at=now,
            )
        except ValidationError as exc:
            raise Rejected(Kind.INVALID, "validation_failed", field_errors(exc)) from exc
        if answer:
            await self.limiter.consume_answer(client=client, now=now)
        if reference is None:
            reference = new_submission_id()
        event = event.model_copy(update={"reference": reference})
        answered = answer and await self.answers.claim(requester_email, now)
        document = {
            "_id": reference,
            "message_id": message_id,
            "received_at": now.isoformat(),
            "answered": answered,
            "incomplete": event.model_dump(mode="json"),
        }
        outbox = [OutboxMessage(TOPIC, to_cloudevent(event))] if answered else []
        try:
            await self.store.insert(INCOMPLETE, document, outbox=outbox)
        except DuplicateDocument:
            stored = await self.store.get(INCOMPLETE, reference)
            return Recorded(reference, bool(stored and stored.get("answered", True)))
        if answered:
            self.relay.wake()
        return Recorded(reference, answered)

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
    ) -> bool:
        """A later message about submission ``reference``; False when there is no such one.
        Announced once per message id and sender.

        It speaks for the requester only from the address the submission was made with, or
        as a reply (``answered``: its In-Reply-To and References) to a message of the
        requester's that intake stored; anyone else's is filed as a third party's."""
        submission = await self.store.get(SUBMISSIONS, reference)
        if submission is None:
            return False
        _require_utf8(text, "text")
        _require_utf8(sender, "sender")
        attachment_errors = check_attachments(
            [AttachmentInfo(a.name, a.content_type, len(a.data)) for a in attachments], self.rules
        )
        if attachment_errors:
            raise Rejected(Kind.INVALID, "validation_failed", attachment_errors)
        verified_by = await self._verified_by(submission, sender, answered)
        now = self.clock()
        kept = [_kept(a) for a in attachments]
        try:
            event = CorrespondenceReceived(
                submission_id=reference,
                channel=channel,
                sender=sender,
                summary=text,
                message_id=message_id or "",
                attachments=[meta for meta, _ in kept],
                received_at=now,
                from_requester=verified_by is not None,
                sender_verified_by=verified_by,
            )
        except ValidationError as exc:
            raise Rejected(Kind.INVALID, "validation_failed", field_errors(exc)) from exc
        doc_id = (
            _hashed_id("C-", reference, sender.casefold(), message_id)
            if message_id
            else "C-" + new_submission_id().removeprefix("R-")
        )
        document = {
            "_id": doc_id,
            "submission_id": reference,
            "message_id": message_id,
            "from_requester": verified_by is not None,
            "received_at": now.isoformat(),
            "correspondence": event.model_dump(mode="json"),
            "attachment_data": [data for _, data in kept],
        }
        try:
            await self.store.insert(
                CORRESPONDENCE, document, outbox=[OutboxMessage(TOPIC, to_cloudevent(event))]
            )
        except DuplicateDocument:
            return True
        self.relay.wake()
        return True

    async def _verified_by(
        self, submission: Mapping[str, Any], sender: str, answered: Sequence[str]
    ) -> Literal["address", "thread"] | None:
        address = submission.get("requester_address") or _address_of(
            None, ((submission.get("submission") or {}).get("requester") or {}).get("email")
        )
        if address and same_mailbox(sender, address):
            return "address"
        wanted = {a for a in answered if a}
        if not wanted:
            return None
        own = {submission.get("message_id")}
        earlier = await self.store.find(
            CORRESPONDENCE, {"submission_id": submission["_id"]}, limit=500
        )
        own |= {c.get("message_id") for c in earlier if c.get("from_requester")}
        return "thread" if wanted & {m for m in own if m} else None

    async def reference_for_message(self, message_ids: Sequence[str]) -> str | None:
        """The submission an earlier message (its Message-ID, or one of a reply's) belongs to."""
        for message_id in message_ids:
            if not message_id:
                continue
            found = await self.store.find(SUBMISSIONS, {"message_id": message_id}, limit=1)
            if found:
                return str(found[0]["_id"])
            replies = await self.store.find(CORRESPONDENCE, {"message_id": message_id}, limit=1)
            if replies:
                return str(replies[0]["submission_id"])
        return None


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


def retry_after_header(exc: RateLimited) -> dict[str, str]:
    return {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}

"""Which review events a consumer may act on: signed by review, and complete under the policy.

The bus is not a trust boundary: anyone who can write a topic can publish any event. An
event that changes a wiki, publishes something or mails someone in review's name
(approval, decline, reversal, inquiry answer, restoration) is
signed by review (``sign_event``), and enforcement and notify act on it only after
``ReviewAuthority.admit``: a valid signature by a trusted key over the event's type,
subject and data, and a sign-off chain the policy accepts (every level of the action
type, one distinct person per level, the language gate; for a reversal, enough distinct
people holding reversal levels). Anything else raises ``EventRefused``, which the consumer
dead-letters with the reason and the monitor turns into an ``untrusted-event`` alert.
Pure: the keys are loaded by the caller.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from casework.cloudevents import CloudEvent
from casework.config import ServiceSettings
from casework.contract import (
    NAMESPACE,
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    DuplicateMerged,
    EventData,
    InquiryAnswered,
    RestorationOrdered,
    RetryOrdered,
    SignOff,
    from_cloudevent,
)
from casework.kafka.dead_letters import PermanentError
from casework.policy import Policy
from casework.signing import (
    EVENT_PURPOSE,
    SignatureRefused,
    Signer,
    TrustedKeys,
    load_trusted_keys,
)

SIGNATURE_FIELD = "signature"
# What acts on a wiki, publishes, or mails a requester or an affected user in review's name.
SIGNED_TYPES = frozenset(
    {
        DecisionApproved.TYPE,
        DecisionDeclined.TYPE,
        DecisionReversed.TYPE,
        DuplicateMerged.TYPE,
        InquiryAnswered.TYPE,
        RestorationOrdered.TYPE,
        RetryOrdered.TYPE,
    }
)
REVIEW_SOURCE = f"/{NAMESPACE}/review"


class EventRefused(PermanentError):
    """An event that claims review's authority without having it. Never retried."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


def _signed_payload(event: CloudEvent) -> dict[str, Any]:
    data = {k: v for k, v in event.data.items() if k != SIGNATURE_FIELD}
    return {"type": event.type, "source": event.source, "subject": event.subject, "data": data}


def sign_event(event: CloudEvent, signer: Signer) -> CloudEvent:
    """``event`` with review's signature in its data; events of other types unchanged."""
    if event.type not in SIGNED_TYPES:
        return event
    payload = _signed_payload(event)
    signature = signer.sign(EVENT_PURPOSE, payload)
    return replace(event, data={**payload["data"], SIGNATURE_FIELD: signature})


class ReviewAuthority:
    """Admits review's signed events whose chain the policy accepts."""

    def __init__(self, keys: TrustedKeys, policy: Policy) -> None:
        self.keys = keys
        self.policy = policy

    @classmethod
    def from_settings(cls, settings: ServiceSettings, policy: Policy) -> ReviewAuthority:
        """Review's public keys from the files the settings name (KeyFileError names a bad one)."""
        return cls(load_trusted_keys(settings.review_public_key_files), policy)

    def admit(self, event: CloudEvent) -> EventData | None:
        """The typed data of an event a consumer may act on (None: a type it does not
        know); raise EventRefused for a signed type that fails any check."""
        if event.type not in SIGNED_TYPES:
            return from_cloudevent(event)
        if event.source != REVIEW_SOURCE:
            raise EventRefused("source", f"{event.type} comes only from review, not {event.source}")
        try:
            self.keys.verify(EVENT_PURPOSE, _signed_payload(event), event.data.get(SIGNATURE_FIELD))
        except SignatureRefused as exc:
            raise EventRefused("signature", str(exc)) from exc
        try:
            data = from_cloudevent(event)
        except ValidationError as exc:
            raise EventRefused("contract", f"signed but invalid data: {exc.errors()[:3]}") from exc
        assert data is not None
        if getattr(data, "case_id", None) != event.subject:
            raise EventRefused("subject", "the event's subject is not its case")
        if isinstance(data, DecisionApproved):
            self._check_approval(data)
        elif isinstance(data, DecisionReversed):
            self._check_reversal(data)
        return data

    # --- the sign-off chain -----------------------------------------------------------

    def _chain(self, action_type: str) -> list[str]:
        action = self.policy.action_types.get(action_type)
        if action is None:
            raise EventRefused("chain", f"unknown action type {action_type!r}")
        return list(action.signoff)

    def _check_approval(self, approved: DecisionApproved) -> None:
        decision = approved.decision
        chain = self._chain(decision.action_type)
        signoffs = approved.signoffs
        _distinct(signoffs)
        levels = [s.level for s in signoffs]
        if levels != chain[: len(levels)]:
            raise EventRefused(
                "chain", f"levels {levels} are not the policy's chain {chain} in order"
            )
        if any(s.verdict != "approve" for s in signoffs):
            raise EventRefused("chain", "a level in the chain did not approve")
        outstanding = chain[len(levels) :]
        if approved.expedited or outstanding:
            rule = self.policy.review.expedited.get(decision.action_type)
            if not approved.expedited or rule is None:
                raise EventRefused(
                    "chain", f"levels {outstanding} have not signed and the action is not expedited"
                )
            if not set(rule.proceed_after) <= set(levels):
                raise EventRefused(
                    "chain", f"expedited approval needs {rule.proceed_after} to have signed"
                )
            if list(approved.outstanding_levels) != outstanding:
                raise EventRefused("chain", "outstanding levels do not match the chain")
        elif approved.outstanding_levels:
            raise EventRefused("chain", "outstanding levels on a complete chain")
        if self.policy.review.language_gate and not any(
            fluent(s.languages, decision.language) for s in signoffs
        ):
            raise EventRefused("language_gate", f"no signer fluent in {decision.language!r}")

    def _check_reversal(self, reversed_: DecisionReversed) -> None:
        chain = self._chain(reversed_.decision.action_type)
        approvals = reversed_.approvals
        if not approvals:
            raise EventRefused("reversal", "a reversal names who approved it")
        # Distinct people; two holders of one reversal level may both approve.
        _distinct_people(approvals)
        if reversed_.grounds == "declined-after-expedited":
            if len(approvals) != 1 or approvals[0].level not in chain:
                raise EventRefused(
                    "reversal", "a decline after expedited enforcement comes from a chain level"
                )
            if approvals[0].verdict != "decline":
                raise EventRefused("reversal", "the chain level must have declined")
            return
        allowed = set(self.policy.review.reversal_levels)
        for approval in approvals:
            if approval.level not in allowed or approval.verdict != "approve":
                raise EventRefused(
                    "reversal", f"{approval.staff_id} did not approve at a reversal level"
                )
        needed = self.policy.review.reversal_approvals_needed(len(chain))
        if len(approvals) < needed:
            raise EventRefused(
                "reversal", f"{len(approvals)} approval(s); the policy needs {needed} people"
            )


def _distinct(signoffs: list[SignOff]) -> None:
    levels = [s.level for s in signoffs]
    if len(set(levels)) != len(levels):
        raise EventRefused("chain", f"a level signed twice: {levels}")
    _distinct_people(signoffs)


def _distinct_people(signoffs: list[SignOff]) -> None:
    people = [s.staff_id.casefold() for s in signoffs]
    if len(set(people)) != len(people):
        raise EventRefused("chain", "one person signed more than one level")


def fluent(languages: list[str], language: str) -> bool:
    """Someone with ``languages`` reads ``language`` (primary subtags compared)."""
    primary = language.split("-")[0].lower()
    return any(tag.split("-")[0].lower() == primary for tag in languages)

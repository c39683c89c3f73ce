"""Where a case really is once approved: what enforcement did on each wiki and who notify
told, folded from their events. Pure: no I/O.

Each operation (wiki, kind, target) and each delivery (audience, channel) keeps its newest
report, by the time the event itself gives (a tie goes to the more final report). So a
redelivered or replayed event changes nothing, and reports that arrive in another order
than they happened (two topics; a replay after the broker lost data) fold to the same
outcome. The fold does not look at the case's state: an expedited case is enforced
before its last sign-offs, and functionaries are told before enforcement finishes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from casework.contract import (
    ActionEnforced,
    ActionExpired,
    ActionRestored,
    ActionReversed,
    Audience,
    AwareDatetime,
    Decision,
    EnforcementFailed,
    NotificationFailed,
    NotificationSent,
    OperationOutcome,
    OperationStatus,
)
from casework.policy.notify import NotifyRules

OutcomeEvent = (
    ActionEnforced
    | EnforcementFailed
    | ActionReversed
    | ActionExpired
    | ActionRestored
    | NotificationSent
    | NotificationFailed
)
OUTCOME_EVENTS = (
    ActionEnforced,
    EnforcementFailed,
    ActionReversed,
    ActionExpired,
    ActionRestored,
    NotificationSent,
    NotificationFailed,
)

OpStatus = Literal["done", "skipped", "retrying", "failed", "reversed", "expired"]
DeliveryStatus = Literal["sent", "retrying", "failed"]
# How notify's work for an audience stands; withheld / no-address: notify tells nobody by
# rule (no public statement for this decision; the affected user has no address).
ToldStatus = Literal["sent", "retrying", "failed", "withheld", "no-address"]
OutcomeStatus = Literal[
    "pending", "retrying", "failed", "enforced", "partly-enforced", "reversed", "expired"
]
# What a wiki of several operations shows, and an audience of several deliveries: the
# first of these any of them has.
WIKI_ORDER: tuple[OpStatus, ...] = ("failed", "retrying", "done", "skipped", "reversed", "expired")
DELIVERY_ORDER: tuple[DeliveryStatus, ...] = ("failed", "retrying", "sent")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class OperationState(_Record):
    wiki: str
    kind: str
    target: str
    status: OpStatus
    detail: str = ""
    attempt: int = 0
    at: AwareDatetime


class Delivery(_Record):
    audience: Audience
    channel: str
    status: DeliveryStatus
    detail: str = ""
    at: AwareDatetime


class Outcome(_Record):
    """Stored on the case; `status`, `wikis` and `told` are derived from the rest."""

    status: OutcomeStatus = "pending"
    revision: int | None = None
    enforced_at: AwareDatetime | None = None
    reversed_at: AwareDatetime | None = None
    expired_at: AwareDatetime | None = None
    operations: list[OperationState] = []
    wikis: dict[str, OpStatus] = {}
    deliveries: list[Delivery] = []
    told: dict[str, ToldStatus] = {}


def silent_audiences(decision: Decision | None, rules: NotifyRules) -> dict[str, ToldStatus]:
    """Audiences notify tells nothing of an enforcement, by rule, and why."""
    if decision is None:
        return {}
    silent: dict[str, ToldStatus] = {}
    if decision.subject.email is None:
        silent[Audience.AFFECTED_USER.value] = "no-address"
    if rules.statement_withheld(decision.action_type, decision.disclosure.public_statement):
        silent[Audience.PUBLIC.value] = "withheld"
    return silent


def fold(
    outcome: Outcome, data: OutcomeEvent, silent: dict[str, ToldStatus] | None = None
) -> Outcome:
    """The outcome with one more report in; the same outcome when it adds nothing."""
    ops = list(outcome.operations)
    deliveries = list(outcome.deliveries)
    fields: dict[str, object] = {}
    if isinstance(data, ActionEnforced):
        revision = data.decision.revision
        if outcome.revision is not None and revision < outcome.revision:
            return outcome  # an older decision's enforcement
        same = outcome.revision == revision and outcome.enforced_at is not None
        fields["revision"] = revision
        fields["enforced_at"] = (
            min(outcome.enforced_at, data.enforced_at)
            if same and outcome.enforced_at is not None
            else data.enforced_at
        )
        ops = _keep(ops, (_reported(o, data.enforced_at) for o in data.operations))
    elif isinstance(data, EnforcementFailed):
        ops = _keep(ops, [_failed_operation(data)])
    elif isinstance(data, ActionReversed):
        at = data.reversed_at
        fields["reversed_at"] = min(outcome.reversed_at or at, at)
        ops = _keep(ops, (_reported(o, at, "reversed") for o in data.operations))
    elif isinstance(data, ActionExpired):
        at = data.expired_at
        fields["expired_at"] = min(outcome.expired_at or at, at)
        ops = _keep(ops, (_reported(o, at, "expired") for o in data.operations))
    elif isinstance(data, ActionRestored):
        restored = _reported(data.operation, data.restored_at)
        note = f"restored ({data.tampering_id}, ordered by {data.ordered_by})"
        ops = _keep(ops, [restored.model_copy(update={"detail": note})])
    else:
        deliveries = _keep(deliveries, [_delivery(data)])
    updated = outcome.model_copy(update={**fields, "operations": ops, "deliveries": deliveries})
    return settle(updated, silent or {})


def _failed_operation(data: EnforcementFailed) -> OperationState:
    return OperationState(
        wiki=data.wiki,
        kind=data.kind,
        target=data.target,
        status="failed" if data.permanent else "retrying",
        detail=f"{data.error_code}: {data.error_info}",
        attempt=data.attempt,
        at=data.failed_at,
    )


def _delivery(data: NotificationSent | NotificationFailed) -> Delivery:
    if isinstance(data, NotificationSent):
        return Delivery(
            audience=data.audience, channel=data.channel, status="sent", at=data.sent_at
        )
    return Delivery(
        audience=data.audience,
        channel=data.channel,
        status="failed" if data.permanent else "retrying",
        detail=data.reason,
        at=data.failed_at,
    )


def settle(outcome: Outcome, silent: dict[str, ToldStatus]) -> Outcome:
    """Derive the status, each wiki's state and who was told from the reports."""
    statuses = {op.status for op in outcome.operations}
    status: OutcomeStatus
    if outcome.reversed_at is not None:
        status = "reversed"
    elif outcome.expired_at is not None:
        status = "expired"
    elif outcome.enforced_at is not None:
        status = "partly-enforced" if "failed" in statuses else "enforced"
    elif "failed" in statuses:
        status = "failed"
    elif "retrying" in statuses:
        status = "retrying"
    else:
        status = "pending"
    wikis: dict[str, OpStatus] = {}
    for wiki in sorted({op.wiki for op in outcome.operations}):
        present = {op.status for op in outcome.operations if op.wiki == wiki}
        wikis[wiki] = next(s for s in WIKI_ORDER if s in present)
    told: dict[str, ToldStatus] = {}
    for audience in sorted({str(d.audience) for d in outcome.deliveries}):
        sent = {d.status for d in outcome.deliveries if str(d.audience) == audience}
        told[audience] = next(s for s in DELIVERY_ORDER if s in sent)
    if outcome.enforced_at is not None:
        for audience, why in silent.items():
            told.setdefault(audience, why)
    return outcome.model_copy(update={"status": status, "wikis": wikis, "told": told})


def changes(before: Outcome, after: Outcome) -> list[tuple[str, str]]:
    """Timeline entries (action, detail) for what a report changed that staff must see."""
    entries: list[tuple[str, str]] = []
    was = {(o.wiki, o.kind, o.target): o.status for o in before.operations}
    for op in after.operations:
        if op.status == "failed" and was.get((op.wiki, op.kind, op.target)) != "failed":
            entries.append(("operation-failed", f"{op.kind} {op.target} on {op.wiki}: {op.detail}"))
    if after.status != before.status and after.status not in ("pending", "retrying"):
        summary = ", ".join(f"{wiki}: {state}" for wiki, state in after.wikis.items())
        entries.append((after.status, summary))
    for audience, state in after.told.items():
        if state != before.told.get(audience) and state in ("sent", "failed"):
            channels = sorted(d.channel for d in after.deliveries if str(d.audience) == audience)
            action = "told" if state == "sent" else "telling-failed"
            entries.append((action, f"{audience} ({', '.join(channels)})"))
    return entries


def _reported(
    outcome: OperationOutcome, at: datetime, done_means: OpStatus = "done"
) -> OperationState:
    status: OpStatus
    if outcome.status is OperationStatus.FAILED:
        status = "failed"
    elif outcome.status is OperationStatus.SKIPPED and done_means == "done":
        status = "skipped"
    else:
        status = done_means
    return OperationState(
        wiki=outcome.wiki,
        kind=outcome.kind,
        target=outcome.target,
        status=status,
        detail=outcome.detail,
        at=at,
    )


def reported_at(data: OutcomeEvent) -> datetime:
    """When the report says its news happened."""
    if isinstance(data, ActionEnforced):
        return data.enforced_at
    if isinstance(data, EnforcementFailed | NotificationFailed):
        return data.failed_at
    if isinstance(data, ActionReversed):
        return data.reversed_at
    if isinstance(data, ActionExpired):
        return data.expired_at
    if isinstance(data, ActionRestored):
        return data.restored_at
    return data.sent_at


S = TypeVar("S", OperationState, Delivery)


def _key(item: OperationState | Delivery) -> tuple[str, ...]:
    if isinstance(item, OperationState):
        return (item.wiki, item.kind, item.target)
    return (str(item.audience), item.channel)


def _rank(item: OperationState | Delivery) -> tuple[datetime, int, str]:
    """Newer wins; at the same time a final report wins over a retry, then by name."""
    return (item.at, 0 if item.status == "retrying" else 1, item.status)


def _keep(known: list[S], reports: Iterable[S]) -> list[S]:
    by_key = {_key(item): item for item in known}
    for report in reports:
        current = by_key.get(_key(report))
        if current is None or _rank(report) > _rank(current):
            by_key[_key(report)] = report
    return [by_key[k] for k in sorted(by_key)]

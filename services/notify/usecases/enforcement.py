"""What is told once an action is enforced: the affected user, the public statement, the
DSA and Lumen records. Only what review's signed approval of the revision said is told;
an ActionEnforced read before its approval is held until the approval comes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from jinja2 import Environment

from casework.contract import (
    ActionEnforced,
    Audience,
    Decision,
    NotificationFailed,
    SignOff,
    to_cloudevent,
    topic_of,
)
from casework.policy import Policy
from casework.store import OutboxMessage
from casework.trust import EventRefused
from casework.updates import update_document
from services.notify.adapters.collections import CASES, EARLY_ENFORCED, early_id
from services.notify.adapters.deliveries import idempotency_key
from services.notify.domain.render import email
from services.notify.domain.views import affected_user_view
from services.notify.usecases.sender import Outgoing, Sender
from services.notify.usecases.transparency_records import TransparencyRecords

log = logging.getLogger(__name__)

# How long an early ActionEnforced waits for its signed approval. Nothing is ever told
# without one (an ActionEnforced alone proves nothing: anyone who can write the bus can
# send it); after the wait a permanent NotificationFailed makes the monitor alert ops.
EARLY_ENFORCED_WAIT_SECONDS = 600.0


def _as_approved(enforced: ActionEnforced, decision: Decision | None) -> ActionEnforced:
    """Tell what staff approved, never what an enforcement event claims was approved."""
    if decision is None:  # approved before decisions were kept here
        return enforced
    if decision != enforced.decision:
        raise EventRefused(
            "decision", f"{enforced.case_id}: the enforced decision is not the approved one"
        )
    return enforced


def _gave_up(case_id: str, now: datetime) -> list[OutboxMessage]:
    failed = NotificationFailed(
        case_id=case_id,
        audience=Audience.AFFECTED_USER,
        channel="email",
        reason=(
            "enforcement reported this case done, but no signed approval of it reached"
            " notify: nobody was told; check the case in review and the dead letters"
        ),
        permanent=True,
        attempt=1,
        failed_at=now,
    )
    return [OutboxMessage(topic_of("notify"), to_cloudevent(failed))]


class Enforcement:
    def __init__(
        self,
        sender: Sender,
        policy: Policy,
        templates: Environment,
        records: TransparencyRecords,
        owns: Callable[[str], bool],
    ) -> None:
        self.sender = sender
        self.store = sender.store
        self.policy = policy
        self.templates = templates
        self.records = records
        self.owns = owns

    async def _approved(
        self, case_id: str, revision: int
    ) -> tuple[Decision | None, list[SignOff]] | None:
        """What review's signed approval of this revision said (None: not read yet)."""
        case = await self.store.get(CASES, case_id)
        if case is None or f"signoffs_r{revision}" not in case:
            return None
        stored = case.get(f"decision_r{revision}")
        decision = Decision.model_validate(stored) if stored is not None else None
        return decision, [SignOff.model_validate(s) for s in case[f"signoffs_r{revision}"]]

    async def settled(self, enforced: ActionEnforced) -> bool:
        """For reconciliation: the public statement settled (withheld, or sent and told
        to the portal), or the enforcement held until review's approval is read
        (release_overdue_enforced alerts if it never is)."""
        revision = enforced.decision.revision
        key = idempotency_key(enforced.case_id, Audience.PUBLIC, "wiki-page", f"r{revision}")
        statement = await self.sender.deliveries.get(key)
        if statement is not None and statement["state"] != "sending":
            return statement["state"] != "sent" or await self.records.public.statement_told(
                enforced.case_id, revision
            )
        return (
            await self.store.get(EARLY_ENFORCED, early_id(enforced.case_id, revision)) is not None
        )

    async def action_enforced(self, enforced: ActionEnforced) -> None:
        approved = await self._approved(enforced.case_id, enforced.decision.revision)
        if approved is None:
            await self.sender.insert_once(
                EARLY_ENFORCED,
                early_id(enforced.case_id, enforced.decision.revision),
                {
                    "case_id": enforced.case_id,
                    "event": enforced.model_dump(mode="json"),
                    "at": self.sender.clock().isoformat(),
                },
            )
            log.info("case %s enforced before its approval was read: held", enforced.case_id)
            return
        decision, signoffs = approved
        await self._tell_enforced(_as_approved(enforced, decision), signoffs)

    async def release_early_enforced(self, case_id: str, revision: int) -> None:
        """Tell a held ActionEnforced now that its approval of ``revision`` is kept."""
        doc = await self.store.get(EARLY_ENFORCED, early_id(case_id, revision))
        if doc is None or doc.get("told"):
            return
        enforced = ActionEnforced.model_validate(doc["event"])
        approved = await self._approved(case_id, revision)
        if approved is None:
            return
        decision, signoffs = approved
        try:
            told = _as_approved(enforced, decision)
        except EventRefused as exc:
            log.error("held enforcement of %s refused: %s", case_id, exc)
            await self.sender.put(EARLY_ENFORCED, doc["_id"], {"told": False, "refused": str(exc)})
            return
        await self._tell_enforced(told, signoffs)
        await self.sender.put(EARLY_ENFORCED, doc["_id"], {"told": True})

    async def release_overdue_enforced(self) -> int:
        """Give up on what waited too long for a signed approval (owned cases): nothing is
        told, and a permanent NotificationFailed raises an alert for ops to look into."""
        released = 0
        for doc in await self.store.find(EARLY_ENFORCED, {"told": None}, order_by="at"):
            waited = (self.sender.clock() - datetime.fromisoformat(doc["at"])).total_seconds()
            if waited < EARLY_ENFORCED_WAIT_SECONDS or not self.owns(doc["case_id"]):
                continue
            log.error("case %s: enforced, but no signed approval was read", doc["case_id"])
            alarm = _gave_up(doc["case_id"], self.sender.clock())

            def give_up(
                held: dict[str, Any], alarm: list[OutboxMessage] = alarm
            ) -> tuple[dict[str, Any], list[OutboxMessage]]:
                return (
                    ({**held, "told": False}, [])
                    if held.get("told") is not None
                    else (
                        {**held, "told": False},
                        alarm,
                    )
                )

            await update_document(self.store, EARLY_ENFORCED, doc["_id"], give_up)
            self.sender.relay.wake()
            released += 1
        return released

    async def _tell_enforced(
        self, enforced: ActionEnforced, signoffs: list[SignOff] | None
    ) -> None:
        decision = enforced.decision
        revision = f"r{decision.revision}"
        key = idempotency_key(enforced.case_id, Audience.AFFECTED_USER, "email", revision)
        if decision.subject.email is None:
            await self.sender.skip(key, enforced.case_id, Audience.AFFECTED_USER, "email")
        else:
            view = affected_user_view(enforced, self.policy, signoffs)
            await self.sender.send(
                Outgoing(
                    key,
                    enforced.case_id,
                    Audience.AFFECTED_USER,
                    decision.subject.email,
                    email(self.templates, "affected_user", view, view.language),
                )
            )
        await self.records.publish_statement(enforced, signoffs)
        await self.records.record_transparency(enforced, signoffs)

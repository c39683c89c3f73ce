"""What is told when review decides: an approval (kept with its sign-offs, briefed to the
functionaries of each wiki, told to the requester) and a reversal (told to the affected
user and, where a statement was published, on the public log page)."""

from __future__ import annotations

from jinja2 import Environment

from casework.contract import Audience, DecisionApproved, DecisionReversed
from casework.policy import Policy
from services.notify.adapters.collections import CASES
from services.notify.adapters.deliveries import functionary_channel, idempotency_key
from services.notify.domain.functionaries import Functionaries
from services.notify.domain.render import email
from services.notify.domain.views import functionary_brief_view, reversal_view
from services.notify.usecases.enforcement import Enforcement
from services.notify.usecases.requesters import Requesters
from services.notify.usecases.sender import Outgoing, Sender
from services.notify.usecases.transparency_records import TransparencyRecords


class Decisions:
    def __init__(
        self,
        sender: Sender,
        policy: Policy,
        templates: Environment,
        functionaries: Functionaries,
        requesters: Requesters,
        enforcement: Enforcement,
        records: TransparencyRecords,
    ) -> None:
        self.sender = sender
        self.policy = policy
        self.templates = templates
        self.functionaries = functionaries
        self.requesters = requesters
        self.enforcement = enforcement
        self.records = records

    async def kept(self, approved: DecisionApproved) -> bool:
        """For reconciliation: review's signed approval kept (what notify tells from, with
        its sign-offs)."""
        case = await self.sender.store.get(CASES, approved.case_id)
        return case is not None and f"signoffs_r{approved.decision.revision}" in case

    async def decision_approved(self, approved: DecisionApproved) -> None:
        decision = approved.decision
        await self.sender.put(
            CASES,
            approved.case_id,
            {
                f"signoffs_r{decision.revision}": [
                    s.model_dump(mode="json") for s in approved.signoffs
                ],
                f"decision_r{decision.revision}": decision.model_dump(mode="json"),
                # When it was decided, for the portal's statement (public level).
                f"approved_at_r{decision.revision}": approved.approved_at.isoformat(),
            },
        )
        revision = f"r{decision.revision}"
        await self.enforcement.release_early_enforced(approved.case_id, decision.revision)
        for wiki, listing in self.functionaries.for_wikis(list(decision.wikis)).items():
            view = functionary_brief_view(approved, self.policy, wiki, listing.language)
            rendered = email(self.templates, "functionary_brief", view, listing.language)
            for address in listing.addresses:
                channel = functionary_channel(wiki, address)  # no address in the key
                key = idempotency_key(approved.case_id, Audience.FUNCTIONARIES, channel, revision)
                await self.sender.send(
                    Outgoing(key, approved.case_id, Audience.FUNCTIONARIES, address, rendered)
                )
        await self.requesters.decision_approved(approved)

    async def decision_reversed(self, reversed_: DecisionReversed) -> None:
        decision = reversed_.decision
        address = decision.subject.email
        view = reversal_view(reversed_, self.policy)
        key = idempotency_key(reversed_.case_id, Audience.AFFECTED_USER, "email", "reversed")
        if address is None:
            await self.sender.skip(key, reversed_.case_id, Audience.AFFECTED_USER, "email")
        else:
            await self.sender.send(
                Outgoing(
                    key,
                    reversed_.case_id,
                    Audience.AFFECTED_USER,
                    address,
                    email(self.templates, "reversal", view, decision.subject.language),
                )
            )
        # The log page is English (public_statement's first part).
        english = reversal_view(reversed_, self.policy, language="en")
        await self.records.publish_reversal(reversed_.case_id, english)

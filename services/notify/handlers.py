"""Notify's reactions: tell each audience what it may know, once per message.

Every message has an idempotency key (case, audience, channel, decision
revision or event) and a delivery record (services/notify/deliveries.py), so a
redelivered event or a restart never sends twice.

The consumer handles different cases at once. Events of one subject (case) are handled
one at a time here too, whoever calls (the consumer, or the reconciliation duty with the
same event): two at once would both find the delivery record "sending" and both send.
The public log page, which every case appends to, takes one append at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from jinja2 import Environment

from casework.cloudevents import CloudEvent
from casework.contract import (
    ActionEnforced,
    AlertRaised,
    Audience,
    CaseOpened,
    Decision,
    DecisionApproved,
    DecisionDeclined,
    DecisionReversed,
    EventData,
    InquiryAnswered,
    NotificationFailed,
    Requester,
    SignOff,
    SubmissionIncomplete,
    SubmissionReceived,
    to_cloudevent,
    topic_of,
)
from casework.keyed_locks import KeyedLocks
from casework.mediawiki import EditResult, PageRevision
from casework.outbox import OutboxRelay
from casework.policy import Policy
from casework.store import DocumentStore, DuplicateDocument, OutboxMessage
from casework.trust import EventRefused, ReviewAuthority
from casework.updates import update_document
from services.notify import dsa, lumen
from services.notify.deliveries import (
    Deliveries,
    functionary_channel,
    idempotency_key,
    message_id,
)
from services.notify.functionaries import Functionaries
from services.notify.mailer import DeliveryFailed, Mailer, build_message
from services.notify.render import (
    RenderedEmail,
    email,
    public_reversal,
    public_statement,
)
from services.notify.views import (
    AcknowledgementView,
    IncompleteView,
    InquiryAnswerView,
    InquiryView,
    MissingFieldView,
    OpsAlertView,
    ReversalView,
    affected_user_view,
    functionary_brief_view,
    public_view,
    requester_outcome_view,
    reversal_view,
)

log = logging.getLogger(__name__)

REQUESTERS = "requesters"
CASES = "cases"
STATEMENTS = "dsa_statements"
LUMEN_NOTICES = "lumen_notices"
# ActionEnforced that came before its DecisionApproved (they travel on different topics, so
# after a rebalance either may be read first): kept until the sign-offs are known.
EARLY_ENFORCED = "early_enforced"
# How long an early ActionEnforced waits for its signed approval. Nothing is ever told
# without one (an ActionEnforced alone proves nothing: anyone who can write the bus can
# send it); after the wait a permanent NotificationFailed makes the monitor alert ops.
EARLY_ENFORCED_WAIT_SECONDS = 600.0
Clock = Callable[[], datetime]


class StatementWiki(Protocol):
    async def page(self, title: str) -> PageRevision | None: ...

    async def own_edit(self, title: str, summary: str) -> int | None: ...

    async def edit(
        self,
        title: str,
        *,
        text: str | None = None,
        appendtext: str | None = None,
        summary: str,
        baserevid: int | None = None,
        createonly: bool = False,
        nocreate: bool = False,
    ) -> EditResult: ...


@dataclass(frozen=True)
class Outgoing:
    key: str
    case_id: str
    audience: Audience
    to: str
    rendered: RenderedEmail
    in_reply_to: str | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _early_id(case_id: str, revision: int) -> str:
    return f"{case_id}:r{revision}"


class Notifier:
    def __init__(
        self,
        store: DocumentStore,
        relay: OutboxRelay,
        policy: Policy,
        templates: Environment,
        mailer: Mailer,
        wiki: StatementWiki,
        public_log_page: str,
        authority: ReviewAuthority,
        functionaries: Functionaries | None = None,
        clock: Clock = _utcnow,
    ) -> None:
        self.authority = authority
        self.store = store
        self.relay = relay
        self.policy = policy
        self.templates = templates
        self.mailer = mailer
        self.wiki = wiki
        self.public_log_page = public_log_page
        self.functionaries = functionaries or Functionaries()
        self.deliveries = Deliveries(store)
        self.clock = clock
        self.owns: Callable[[str], bool] = lambda case_id: True
        self._subjects = KeyedLocks()
        self._log_page = asyncio.Lock()

    async def handle(self, event: CloudEvent) -> None:
        data = self.authority.admit(event)  # EventRefused: dead-lettered, nothing sent
        async with self._subjects.hold(event.subject):
            await self._react(data)

    async def _react(self, data: EventData | None) -> None:
        if isinstance(data, SubmissionReceived):
            await self.submission_received(data)
        elif isinstance(data, SubmissionIncomplete):
            await self.submission_incomplete(data)
        elif isinstance(data, CaseOpened):
            await self.case_opened(data)
        elif isinstance(data, DecisionApproved):
            await self.decision_approved(data)
        elif isinstance(data, DecisionDeclined):
            await self.decision_declined(data)
        elif isinstance(data, DecisionReversed):
            await self.decision_reversed(data)
        elif isinstance(data, InquiryAnswered):
            await self.inquiry_answered(data)
        elif isinstance(data, ActionEnforced):
            await self.action_enforced(data)
        elif isinstance(data, AlertRaised):
            await self.alert_raised(data)

    # --- ops ----------------------------------------------------------------------------------

    async def alert_raised(self, alert: AlertRaised) -> None:
        """Mail a monitor alert to the ops address it names, once per alert key."""
        if alert.ops_address is None:
            return
        view = OpsAlertView(
            alert_key=alert.alert_key,
            kind=str(alert.kind),
            case_id=alert.case_id or "",
            what_happened=alert.what_happened,
            what_to_do=alert.what_to_do,
            case_url=alert.case_url or "",
            raised_at=alert.raised_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
        key = idempotency_key(alert.alert_key, Audience.STAFF, "email", "alert")
        await self._send(
            Outgoing(
                key,
                alert.case_id or alert.alert_key,
                Audience.STAFF,
                alert.ops_address,
                email(self.templates, "ops_alert", view, "en"),
            )
        )

    # --- requester --------------------------------------------------------------------------

    async def submission_received(self, received: SubmissionReceived) -> None:
        requester = received.requester
        if requester is None:
            return  # an anonymous report: nobody to acknowledge
        await self._put(
            REQUESTERS,
            received.submission_id,
            {**requester.model_dump(mode="json"), "action_type": received.action_type},
        )
        contact = self.policy.teams[received.routed_to].address
        action = received.action_type
        view = AcknowledgementView(
            reference=received.submission_id,
            name=requester.name,
            language=requester.language,
            kind=str(received.kind),
            action_title=self.policy.action(action).title if action else "",
            contact_address=contact,
        )
        key = idempotency_key(received.submission_id, Audience.REQUESTER, "email", "ack")
        await self._send(
            Outgoing(
                key,
                received.submission_id,
                Audience.REQUESTER,
                requester.email,
                email(self.templates, "requester_ack", view, requester.language),
            )
        )

    async def submission_incomplete(self, incomplete: SubmissionIncomplete) -> None:
        view = IncompleteView(
            reference=incomplete.reference,
            name=incomplete.requester_name,
            language=incomplete.language,
            missing=[
                MissingFieldView(field=m.field, message=m.message) for m in incomplete.missing
            ],
        )
        version = "incomplete-" + incomplete.received_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")
        key = idempotency_key(incomplete.reference, Audience.REQUESTER, "email", version)
        await self._send(
            Outgoing(
                key,
                incomplete.reference,
                Audience.REQUESTER,
                incomplete.requester_email,
                email(self.templates, "requester_incomplete", view, incomplete.language),
                in_reply_to=incomplete.in_reply_to,
            )
        )

    async def case_opened(self, opened: CaseOpened) -> None:
        await self._put(CASES, opened.case_id, {"submission_id": opened.submission_id})

    async def _requester_of(
        self, case_id: str, given: Requester | None
    ) -> tuple[Requester, str] | None:
        """The requester and the reference they were given (their acknowledgement's thread)."""
        case = await self.store.get(CASES, case_id)
        submission = case.get("submission_id") if case is not None else None
        reference = submission or case_id
        if given is not None:
            return given, reference
        if submission is None:
            return None
        stored = await self.store.get(REQUESTERS, reference)
        if stored is None:
            return None
        return Requester.model_validate(stored), reference

    def _ack_thread(self, reference: str) -> str:
        return message_id(idempotency_key(reference, Audience.REQUESTER, "email", "ack"))

    async def decision_declined(self, declined: DecisionDeclined) -> None:
        found = await self._requester_of(declined.case_id, declined.requester)
        if found is None:
            return
        requester, reference = found
        stored = await self.store.get(REQUESTERS, reference)
        action = stored.get("action_type") if stored else None
        view = requester_outcome_view(
            reference=reference,
            name=requester.name,
            language=requester.language,
            outcome="declined",
            decision=None,
            signoffs=None,
            action_title=self.policy.action(action).title if action else "",
            contact=self._team_address(action),
            policy=self.policy,
        )
        key = idempotency_key(declined.case_id, Audience.REQUESTER, "email", "declined")
        await self._send(
            Outgoing(
                key,
                declined.case_id,
                Audience.REQUESTER,
                requester.email,
                email(self.templates, "requester_outcome", view, requester.language),
                in_reply_to=self._ack_thread(reference),
            )
        )

    def _team_address(self, action: str | None) -> str:
        if action and action in self.policy.action_types:
            return self.policy.teams[self.policy.action(action).routed_to].address
        return next(iter(self.policy.teams.values())).address

    async def inquiry_answered(self, answered: InquiryAnswered) -> None:
        requester = answered.requester
        view = InquiryView(
            case_id=answered.case_id,
            about_case_id=answered.about_case_id,
            name=requester.name,
            language=requester.language,
            answers=[
                InquiryAnswerView(question=a.question, outcome=a.outcome, text=a.text)
                for a in answered.answers
            ],
            contact_address=self._team_address(None),
        )
        version = "inquiry-" + answered.answered_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")
        key = idempotency_key(answered.case_id, Audience.REQUESTER, "email", version)
        case = await self.store.get(CASES, answered.case_id)
        submission = case.get("submission_id") if case is not None else None
        thread = self._ack_thread(submission) if submission else None
        await self._send(
            Outgoing(
                key,
                answered.case_id,
                Audience.REQUESTER,
                requester.email,
                email(self.templates, "inquiry_answer", view, requester.language),
                in_reply_to=thread,
            )
        )

    # --- decisions ----------------------------------------------------------------------------

    async def decision_approved(self, approved: DecisionApproved) -> None:
        decision = approved.decision
        await self._put(
            CASES,
            approved.case_id,
            {
                f"signoffs_r{decision.revision}": [
                    s.model_dump(mode="json") for s in approved.signoffs
                ],
                f"decision_r{decision.revision}": decision.model_dump(mode="json"),
            },
        )
        revision = f"r{decision.revision}"
        await self._release_early_enforced(approved.case_id, decision.revision)
        for wiki, listing in self.functionaries.for_wikis(list(decision.wikis)).items():
            view = functionary_brief_view(approved, self.policy, wiki)
            rendered = email(self.templates, "functionary_brief", view, listing.language)
            for address in listing.addresses:
                channel = functionary_channel(wiki, address)  # no address in the key
                key = idempotency_key(approved.case_id, Audience.FUNCTIONARIES, channel, revision)
                await self._send(
                    Outgoing(key, approved.case_id, Audience.FUNCTIONARIES, address, rendered)
                )
        found = await self._requester_of(approved.case_id, approved.requester)
        if found is None:
            return
        requester, reference = found
        view_r = requester_outcome_view(
            reference=reference,
            name=requester.name,
            language=requester.language,
            outcome="approved",
            decision=decision,
            signoffs=approved.signoffs,
            action_title=self.policy.action(decision.action_type).title,
            contact=self._team_address(decision.action_type),
            policy=self.policy,
        )
        key = idempotency_key(approved.case_id, Audience.REQUESTER, "email", revision)
        await self._send(
            Outgoing(
                key,
                approved.case_id,
                Audience.REQUESTER,
                requester.email,
                email(self.templates, "requester_outcome", view_r, requester.language),
                in_reply_to=self._ack_thread(reference),
            )
        )

    async def decision_reversed(self, reversed_: DecisionReversed) -> None:
        decision = reversed_.decision
        address = decision.subject.email
        view = reversal_view(reversed_, self.policy)
        key = idempotency_key(reversed_.case_id, Audience.AFFECTED_USER, "email", "reversed")
        if address is None:
            await self._skip(key, reversed_.case_id, Audience.AFFECTED_USER, "email")
        else:
            await self._send(
                Outgoing(
                    key,
                    reversed_.case_id,
                    Audience.AFFECTED_USER,
                    address,
                    email(self.templates, "reversal", view, decision.subject.language),
                )
            )
        await self._publish_reversal(reversed_.case_id, view)

    async def _publish_reversal(self, case_id: str, view: ReversalView) -> None:
        """Only where a statement was published: a confidential action stays unpublished."""
        key = idempotency_key(case_id, Audience.PUBLIC, "wiki-page", "reversed")
        done = await self.deliveries.get(key)
        if done is not None and done["state"] != "sending":
            return
        if not await self._statement_published(case_id):
            return
        async with self._log_page:
            await self._append_to_log(
                key,
                case_id,
                resumed=done is not None,
                text=lambda: "\n" + public_reversal(self.templates, view),
                summary=f"Office action {case_id}: reversed",
            )

    async def _statement_published(self, case_id: str) -> bool:
        """By our own delivery records, not by what anyone may have written on the page."""
        return any(
            d.get("channel") == "wiki-page"
            and d.get("state") == "sent"
            and not str(d["_id"]).endswith(":reversed")
            for d in await self.deliveries.of_case(case_id)
        )

    async def _append_to_log(
        self,
        key: str,
        case_id: str,
        *,
        resumed: bool,
        text: Callable[[], str],
        summary: str,
    ) -> None:
        """Append to the public log page once. Already there means our own edit: after a
        crash between the edit and its record (``resumed``), a revision by the role account
        with this summary; never a marker in the text, which anyone can add."""
        await self.deliveries.begin(
            key, {"case_id": case_id, "audience": str(Audience.PUBLIC), "channel": "wiki-page"}
        )
        earlier = await self.wiki.own_edit(self.public_log_page, summary) if resumed else None
        if earlier is not None:
            reference = f"{self.public_log_page}?oldid={earlier}"
        else:
            result = await self.wiki.edit(self.public_log_page, appendtext=text(), summary=summary)
            reference = f"{self.public_log_page}?oldid={result.newrevid}"
        await self.deliveries.finish(
            key,
            case_id=case_id,
            audience=Audience.PUBLIC,
            channel="wiki-page",
            state="sent",
            reference=reference,
            now=self.clock(),
        )
        self.relay.wake()

    # --- enforcement --------------------------------------------------------------------------

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

    @staticmethod
    def _as_approved(enforced: ActionEnforced, decision: Decision | None) -> ActionEnforced:
        """Tell what staff approved, never what an enforcement event claims was approved."""
        if decision is None:  # approved before decisions were kept here
            return enforced
        if decision != enforced.decision:
            raise EventRefused(
                "decision", f"{enforced.case_id}: the enforced decision is not the approved one"
            )
        return enforced

    async def action_enforced(self, enforced: ActionEnforced) -> None:
        approved = await self._approved(enforced.case_id, enforced.decision.revision)
        if approved is None:
            await self._insert_once(
                EARLY_ENFORCED,
                _early_id(enforced.case_id, enforced.decision.revision),
                {
                    "case_id": enforced.case_id,
                    "event": enforced.model_dump(mode="json"),
                    "at": self.clock().isoformat(),
                },
            )
            log.info("case %s enforced before its approval was read: held", enforced.case_id)
            return
        decision, signoffs = approved
        await self._tell_enforced(self._as_approved(enforced, decision), signoffs)

    async def _release_early_enforced(self, case_id: str, revision: int) -> None:
        doc = await self.store.get(EARLY_ENFORCED, _early_id(case_id, revision))
        if doc is None or doc.get("told"):
            return
        enforced = ActionEnforced.model_validate(doc["event"])
        approved = await self._approved(case_id, revision)
        if approved is None:
            return
        decision, signoffs = approved
        try:
            told = self._as_approved(enforced, decision)
        except EventRefused as exc:
            log.error("held enforcement of %s refused: %s", case_id, exc)
            await self._put(EARLY_ENFORCED, doc["_id"], {"told": False, "refused": str(exc)})
            return
        await self._tell_enforced(told, signoffs)
        await self._put(EARLY_ENFORCED, doc["_id"], {"told": True})

    async def release_overdue_enforced(self) -> int:
        """Give up on what waited too long for a signed approval (owned cases): nothing is
        told, and a permanent NotificationFailed raises an alert for ops to look into."""
        released = 0
        for doc in await self.store.find(EARLY_ENFORCED, {"told": None}, order_by="at"):
            waited = (self.clock() - datetime.fromisoformat(doc["at"])).total_seconds()
            if waited < EARLY_ENFORCED_WAIT_SECONDS or not self.owns(doc["case_id"]):
                continue
            log.error("case %s: enforced, but no signed approval was read", doc["case_id"])
            failed = NotificationFailed(
                case_id=doc["case_id"],
                audience=Audience.AFFECTED_USER,
                channel="email",
                reason=(
                    "enforcement reported this case done, but no signed approval of it reached"
                    " notify: nobody was told; check the case in review and the dead letters"
                ),
                permanent=True,
                attempt=1,
                failed_at=self.clock(),
            )
            alarm = [OutboxMessage(topic_of("notify"), to_cloudevent(failed))]

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
            self.relay.wake()
            released += 1
        return released

    async def _tell_enforced(
        self, enforced: ActionEnforced, signoffs: list[SignOff] | None
    ) -> None:
        decision = enforced.decision
        revision = f"r{decision.revision}"
        key = idempotency_key(enforced.case_id, Audience.AFFECTED_USER, "email", revision)
        if decision.subject.email is None:
            await self._skip(key, enforced.case_id, Audience.AFFECTED_USER, "email")
        else:
            view = affected_user_view(enforced, self.policy, signoffs)
            await self._send(
                Outgoing(
                    key,
                    enforced.case_id,
                    Audience.AFFECTED_USER,
                    decision.subject.email,
                    email(self.templates, "affected_user", view, view.language),
                )
            )
        await self._publish_statement(enforced, signoffs)
        await self._record_transparency(enforced, signoffs)

    def confidential_grounds(self, enforced: ActionEnforced) -> str | None:
        decision = enforced.decision
        if decision.action_type in self.policy.notify.confidential_action_types:
            return (
                decision.disclosure.confidential_grounds.strip()
                or f"{decision.action_type} is confidential by policy"
            )
        if not decision.disclosure.public_statement:
            return decision.disclosure.confidential_grounds.strip() or "confidential decision"
        return None

    async def _publish_statement(
        self, enforced: ActionEnforced, signoffs: list[SignOff] | None
    ) -> None:
        case_id = enforced.case_id
        key = idempotency_key(
            case_id, Audience.PUBLIC, "wiki-page", f"r{enforced.decision.revision}"
        )
        done = await self.deliveries.get(key)
        if done is not None and done["state"] != "sending":
            return
        confidential = self.confidential_grounds(enforced)
        if confidential is not None:
            await self.deliveries.finish(
                key,
                case_id=case_id,
                audience=Audience.PUBLIC,
                channel="wiki-page",
                state="withheld",
                reference=f"no public statement: {confidential}",
                now=self.clock(),
            )
            return
        async with self._log_page:
            current = await self.wiki.page(self.public_log_page)
            await self._append_to_log(
                key,
                case_id,
                resumed=done is not None,
                text=lambda: (
                    ("\n\n" if current is not None else "")
                    + public_statement(self.templates, public_view(enforced, self.policy, signoffs))
                ),
                summary=f"Office action {case_id}: public statement",
            )

    async def _record_transparency(
        self, enforced: ActionEnforced, signoffs: list[SignOff] | None
    ) -> None:
        """The DSA statement and (DMCA) Lumen notice, queued for the submission duty."""
        decision = enforced.decision
        mapping = self.policy.notify.dsa.action_types.get(decision.action_type)
        view = public_view(enforced, self.policy, signoffs)
        doc_id = f"{enforced.case_id}:r{decision.revision}"
        if mapping is not None:
            statement = dsa.statement_of_reasons(
                view,
                mapping,
                self.policy.notify.dsa,
                revision=decision.revision,
                confidential=self.confidential_grounds(enforced) is not None,
            )
            await self._insert_once(
                STATEMENTS,
                doc_id,
                {"case_id": enforced.case_id, "state": "pending", "statement": statement},
            )
        if decision.action_type == "dmca-takedown" and decision.content is not None:
            base = self.policy.notify.dsa.platform_url.rstrip("/")
            pages = [f"{base}/{p.wiki}/{p.title.replace(' ', '_')}" for p in decision.content.pages]
            notice = lumen.lumen_notice(
                view, page_urls=pages, recipient="Office actions (Trust & Safety)"
            )
            await self._insert_once(
                LUMEN_NOTICES,
                doc_id,
                {"case_id": enforced.case_id, "state": "pending", "notice": notice},
            )

    # --- plumbing -----------------------------------------------------------------------------

    async def _send(self, out: Outgoing) -> None:
        record = await self.deliveries.begin(
            out.key,
            {
                "case_id": out.case_id,
                "audience": str(out.audience),
                "channel": "email",
                "message_id": message_id(out.key),
            },
        )
        if record["state"] != "sending":
            return
        message = build_message(
            sender=self.mailer.settings.sender,
            to=out.to,
            subject=out.rendered.subject,
            body=out.rendered.body,
            html=out.rendered.html,
            message_id=message_id(out.key),
            language=out.rendered.language,
            in_reply_to=out.in_reply_to,
        )
        try:
            attempts = await self.mailer.send(message)
        except DeliveryFailed as exc:
            log.warning("case %s: %s email failed: %s", out.case_id, out.audience, exc.reason)
            await self.deliveries.finish(
                out.key,
                case_id=out.case_id,
                audience=out.audience,
                channel="email",
                state="failed",
                reference=exc.reason,
                now=self.clock(),
                attempts=exc.attempts,
                permanent=exc.permanent,
            )
        else:
            await self.deliveries.finish(
                out.key,
                case_id=out.case_id,
                audience=out.audience,
                channel="email",
                state="sent",
                reference=message_id(out.key),
                now=self.clock(),
                attempts=attempts,
            )
        self.relay.wake()
        log.info("case %s: %s email %s", out.case_id, out.audience, out.key)

    async def _skip(self, key: str, case_id: str, audience: Audience, channel: str) -> None:
        await self.deliveries.finish(
            key,
            case_id=case_id,
            audience=audience,
            channel=channel,
            state="skipped",
            reference="no address on record",
            now=self.clock(),
        )

    async def _put(self, collection: str, doc_id: str, fields: dict[str, Any]) -> None:
        try:
            await self.store.insert(collection, {"_id": doc_id, **fields})
        except DuplicateDocument:

            def merge(doc: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
                return {**doc, **fields}, []

            await update_document(self.store, collection, doc_id, merge)

    async def _insert_once(self, collection: str, doc_id: str, fields: dict[str, Any]) -> None:
        try:
            await self.store.insert(collection, {"_id": doc_id, **fields})
        except DuplicateDocument:
            pass

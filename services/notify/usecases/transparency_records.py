"""What the public is given: the statement (and any reversal) on the public log page, and
the DSA statement of reasons and (DMCA) Lumen notice queued for the submission duty.

The public log (a run of pages, services/notify/domain/log_pages.py), which every case
appends to, takes one append at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from jinja2 import Environment

from casework.contract import ActionEnforced, Audience, SignOff
from casework.policy import Policy
from services.notify.adapters.collections import LUMEN_NOTICES, STATEMENTS
from services.notify.adapters.deliveries import idempotency_key
from services.notify.domain import dsa, lumen
from services.notify.domain.render import public_reversal, public_statement, statement_language
from services.notify.domain.rules import confidential_grounds
from services.notify.domain.views import ReversalView, public_view
from services.notify.usecases.public_records import PublicRecords
from services.notify.usecases.sender import Sender


class StatementWiki(Protocol):
    async def own_edit(self, title: str, summary: str, *, after: int = 0) -> int | None: ...

    async def append_once(
        self, title: str, text: str, summary: str, *, after: int | None = None
    ) -> int: ...


class StatementLog(Protocol):
    """The log's pages (services/notify/adapters/log_page.py LogPages)."""

    async def titles(self) -> list[str]: ...

    async def page_for(self, adding: int) -> tuple[str, int]: ...


class TransparencyRecords:
    def __init__(
        self,
        sender: Sender,
        policy: Policy,
        templates: Environment,
        wiki: StatementWiki,
        log: StatementLog,
        public: PublicRecords,
    ) -> None:
        self.sender = sender
        self.public = public
        self.deliveries = sender.deliveries
        self.policy = policy
        self.templates = templates
        self.wiki = wiki
        self.log = log
        self._log_page = asyncio.Lock()

    async def publish_statement(
        self, enforced: ActionEnforced, signoffs: list[SignOff] | None
    ) -> None:
        """The statement on the log page once, then the portal's StatementPublished with
        its log entry (also when the page's edit was recorded before: a crash between the
        two, or a case published before the portal's events were)."""
        case_id = enforced.case_id
        key = idempotency_key(
            case_id, Audience.PUBLIC, "wiki-page", f"r{enforced.decision.revision}"
        )
        done = await self.deliveries.get(key)
        if done is None or done["state"] == "sending":
            await self._publish_statement(key, enforced, signoffs)
            done = await self.deliveries.get(key)
        if done is not None and done["state"] == "sent":
            await self.public.statement(enforced, signoffs, done["reference"])

    async def _publish_statement(
        self, key: str, enforced: ActionEnforced, signoffs: list[SignOff] | None
    ) -> None:
        case_id = enforced.case_id
        confidential = confidential_grounds(enforced, self.policy)
        if confidential is not None:
            await self.deliveries.finish(
                key,
                case_id=case_id,
                audience=Audience.PUBLIC,
                channel="wiki-page",
                state="withheld",
                reference=f"no public statement: {confidential}",
                now=self.sender.clock(),
            )
            return
        async with self._log_page:
            await self._append_to_log(
                key,
                case_id,
                text=lambda exists: (
                    ("\n\n" if exists else "") + self._statement(enforced, signoffs)
                ),
                summary=f"Office action {case_id}: public statement",
            )

    def _statement(self, enforced: ActionEnforced, signoffs: list[SignOff] | None) -> str:
        """English; a case in another language carries that language's too."""
        english = public_view(enforced, self.policy, signoffs)
        language = statement_language(self.templates, enforced.decision.language)
        if language is None:
            return public_statement(self.templates, english)
        translated = public_view(enforced, self.policy, signoffs, language)
        return public_statement(self.templates, english, (language, translated))

    async def publish_reversal(self, case_id: str, view: ReversalView) -> None:
        """Only where a statement was published: a confidential action stays unpublished.
        Then the portal's ReversalPublished with the reversal's log entry."""
        key = idempotency_key(case_id, Audience.PUBLIC, "wiki-page", "reversed")
        done = await self.deliveries.get(key)
        if done is None or done["state"] == "sending":
            if not await self.public.published(case_id):
                return
            async with self._log_page:
                await self._append_to_log(
                    key,
                    case_id,
                    text=lambda _exists: "\n" + public_reversal(self.templates, view),
                    summary=f"Office action {case_id}: reversed",
                )
            done = await self.deliveries.get(key)
        if done is not None and done["state"] == "sent":
            await self.public.reversal(view, done["reference"])

    async def _append_to_log(
        self,
        key: str,
        case_id: str,
        *,
        text: Callable[[bool], str],
        summary: str,
    ) -> None:
        """Append to the public log once. The delivery record is this instance's
        claim on the edit (another instance handling the same event waits); already there
        means our own edit: when the record was begun before (a crash between the edit and
        its record), a revision by the role account with this summary; never a marker in
        the text, which anyone can add. A lost answer is checked the same way
        (``append_once``) before the edit is tried again."""
        claim = await self.deliveries.begin(
            key, {"case_id": case_id, "audience": str(Audience.PUBLIC), "channel": "wiki-page"}
        )
        if claim.finished:
            return
        async with self.deliveries.kept(key):
            found = await self._own_append(summary) if claim.resumed else None
            if found is None:
                appended = text(True)  # rendered once; again only for a page not there yet
                page, after = await self.log.page_for(len(appended.encode()))
                if after == 0:
                    appended = text(False)
                edit = await self.wiki.append_once(page, appended, summary, after=after)
                found = page, edit
            page, revision = found
            await self.deliveries.finish(
                key,
                case_id=case_id,
                audience=Audience.PUBLIC,
                channel="wiki-page",
                state="sent",
                reference=f"{page}?oldid={revision}",
                now=self.sender.clock(),
            )
        self.sender.relay.wake()

    async def _own_append(self, summary: str) -> tuple[str, int] | None:
        """The page and revision of the role account's edit with ``summary``, on any page of
        the log (newest first), or None."""
        for page in await self.log.titles():
            revision = await self.wiki.own_edit(page, summary)
            if revision is not None:
                return page, revision
        return None

    async def record_transparency(
        self, enforced: ActionEnforced, signoffs: list[SignOff] | None
    ) -> None:
        """The DSA statement and (DMCA) Lumen notice, queued for the submission duty."""
        decision = enforced.decision
        mapping = self.policy.notify.dsa.action_types.get(decision.action_type)
        view = public_view(enforced, self.policy, signoffs)
        doc_id = f"{enforced.case_id}:r{decision.revision}"
        confidential = confidential_grounds(enforced, self.policy) is not None
        if mapping is not None:
            statement = dsa.statement_of_reasons(
                view,
                mapping,
                self.policy.notify.dsa,
                revision=decision.revision,
                confidential=confidential,
            )
            # ``public``: its submission is told to the portal (DsaStatementSubmitted).
            await self.sender.insert_once(
                STATEMENTS,
                doc_id,
                {
                    "case_id": enforced.case_id,
                    "revision": decision.revision,
                    "public": not confidential,
                    "state": "pending",
                    "statement": statement,
                },
            )
        if decision.action_type == "dmca-takedown" and decision.content is not None:
            base = self.policy.notify.dsa.platform_url.rstrip("/")
            pages = [f"{base}/{p.wiki}/{p.title.replace(' ', '_')}" for p in decision.content.pages]
            notice = lumen.lumen_notice(
                view, page_urls=pages, recipient="Office actions (Trust & Safety)"
            )
            await self.sender.insert_once(
                LUMEN_NOTICES,
                doc_id,
                {"case_id": enforced.case_id, "state": "pending", "notice": notice},
            )

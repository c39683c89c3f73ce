"""The public log's pages belong to the role account: created by it and protected (edit and
move for administrators only), the first when notify starts and each later one when the log
goes on to it (services/notify/domain/log_pages.py), so nobody else changes what the public
reads there. Whether a statement is already on a page is never read from its text
(services/notify/usecases/transparency_records.py asks for the role account's own edit)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from casework.claims import Claimant, working_on
from casework.mediawiki import EditResult, MediaWikiError, PageSize, PageState, ProtectionLevel
from casework.store import DocumentStore
from services.notify.domain.log_pages import (
    INTRO,
    continuation_summary,
    continued_at,
    is_full,
    page_intro,
    page_title,
)

log = logging.getLogger(__name__)

LEVELS = {"edit": "sysop", "move": "sysop"}
RETRY_SECONDS = 30.0
PROBE_BATCH = 50  # titles per read when finding the newest page (the API's limit)
GOING_ON = "log_pages"  # claims: one instance at a time makes the log's next page


class LogWiki(Protocol):
    async def page_state(self, title: str) -> PageState: ...

    async def edit(
        self, title: str, *, text: str | None = None, summary: str, createonly: bool = False
    ) -> EditResult: ...

    async def protect(
        self, title: str, *, protections: dict[str, str], reason: str, expiry: str = "infinite"
    ) -> list[ProtectionLevel]: ...


class LogPagesWiki(LogWiki, Protocol):
    async def page_sizes(self, *titles: str) -> dict[str, PageSize]: ...

    async def created_by_us(self, title: str) -> bool: ...

    async def append_unless_made(self, title: str, text: str, summary: str) -> int: ...


async def protect_log_page(wiki: LogWiki, title: str, intro: str = INTRO) -> bool:
    """Create and protect the page where needed; True when something was changed."""
    state = await wiki.page_state(title)
    changed = False
    if not state.exists:
        try:
            await wiki.edit(title, text=intro, summary="Office actions log", createonly=True)
            changed = True
        except MediaWikiError as exc:
            if exc.code != "articleexists":  # another instance was first
                raise
    held = {p.type: p.level for p in state.protection if p.expiry is None}
    if any(held.get(kind) != level for kind, level in LEVELS.items()):
        await wiki.protect(
            title,
            protections=LEVELS,
            reason="Office actions log: statements by the role account only",
        )
        changed = True
    return changed


class LogPages:
    """Where the next statement goes: the newest page of the log, or a new one after it when
    the newest is full. The newest page known only moves forward; another instance that went
    on first is followed (its page exists), never passed. Going on is claimed in the store
    the instances share, so two instances finding the page full at once link it once."""

    def __init__(
        self,
        wiki: LogPagesWiki,
        first: str,
        max_bytes: int,
        store: DocumentStore,
        claimant: Claimant,
    ) -> None:
        self.wiki = wiki
        self.first = first
        self.max_bytes = max_bytes
        self.store = store
        self.claimant = claimant
        self.newest = 1
        self._caught_up = False
        self._finding = asyncio.Lock()
        self._ours: set[str] = {first}  # the configured page is the operator's choice

    async def titles(self) -> list[str]:
        """The log's pages, newest first."""
        await self._catch_up()
        return [page_title(self.first, n) for n in range(self.newest, 0, -1)]

    async def newest_title(self) -> str:
        """The log's newest page, as the wiki had it when this instance first looked."""
        await self._catch_up()
        return page_title(self.first, self.newest)

    def _reached(self, number: int) -> None:
        self.newest = max(self.newest, number)  # never back

    async def _catch_up(self) -> None:
        """Find the newest page once (one read per 50 pages). The start-up duty and the
        first statement may ask at once: the second waits and reads nothing."""
        async with self._finding:
            if self._caught_up:
                return
            number = self.newest
            while True:
                batch = [page_title(self.first, number + n) for n in range(1, PROBE_BATCH + 1)]
                sizes = await self.wiki.page_sizes(*batch)
                there = 0
                while there < len(batch) and sizes[batch[there]].revid:
                    there += 1
                number += there
                if there < len(batch):
                    break
            self._reached(number)
            self._caught_up = True

    async def page_for(self, adding: int) -> tuple[str, int]:
        """The page a statement of ``adding`` bytes goes on, and that page's latest revision
        (0: not there yet). A full page is closed with a link to the next, which is made.
        One call at a time (TransparencyRecords appends one statement at a time)."""
        await self._catch_up()
        while True:
            number = self.newest
            current = page_title(self.first, number)
            following = page_title(self.first, number + 1)
            sizes = await self.wiki.page_sizes(current, following)
            if not sizes[following].revid:
                here = sizes[current]
                if number > 1 and not here.revid:  # deleted since (someone else had made it)
                    await self._go_on_once(page_title(self.first, number - 1), current)
                    continue
                if not is_full(here.length, adding, self.max_bytes):
                    await self._check_ours(current)
                    return current, here.revid
                await self._go_on_once(current, following)
            self._reached(number + 1)  # the log went on (by this call or before it)

    async def _check_ours(self, title: str) -> None:
        """A later page counts only if the role account made it: anyone may create a page
        of that name first, and nothing is appended to theirs. Transient: once an
        administrator has deleted it, the next try makes the page."""
        if title in self._ours:
            return
        if not await self.wiki.created_by_us(title):
            raise MediaWikiError(
                "logpagenotours",
                f"{title} was not made by the role account: delete it to let the log go on",
                transient=True,
            )
        self._ours.add(title)

    async def _go_on_once(self, full: str, following: str) -> None:
        """Go on from ``full`` to ``following`` unless that page is there by now; claimed,
        so one instance at a time (HeldElsewhere for another: its event is read again)."""
        async with working_on(self.store, GOING_ON, f"page:{following}", self.claimant):
            if not (await self.wiki.page_sizes(following))[following].revid:
                await self._go_on(full, following)

    async def _go_on(self, full: str, following: str) -> None:
        """The link on the full page and on the first (once each: the role account's edit
        with its summary), then the next page, made and protected. In this order, a crash
        between the steps leaves the next page missing, so the next statement does it
        again (under the same claim, taken over once it runs out) and finds its links."""
        summary = continuation_summary(following)
        for page in dict.fromkeys((full, self.first)):
            await self.wiki.append_unless_made(page, continued_at(following), summary)
        await protect_log_page(self.wiki, following, page_intro(full))
        log.info("public log full at %s; it continues at %s", full, following)


def keep_protected(pages: LogPages) -> Callable[[], Coroutine[Any, Any, None]]:
    """A start-up duty: find the log's newest page, protect it and the first (retrying
    while the wiki is unreachable), then idle."""

    async def duty() -> None:
        while True:
            try:
                newest = await pages.newest_title()
                for title in dict.fromkeys((pages.first, newest)):
                    if await protect_log_page(pages.wiki, title):
                        log.info("public log page %s created or protected", title)
                break
            except Exception:
                log.exception("protecting the public log page failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)
        await asyncio.Event().wait()  # a duty that returned would stop the service

    return duty

"""The public log page belongs to the role account: created by it and protected (edit and
move for administrators only) when notify starts, so nobody else changes what the public
reads there. Whether a statement is already on it is never read from its text
(services/notify/usecases/transparency_records.py asks for the role account's own edit)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from casework.mediawiki import EditResult, MediaWikiError, PageState, ProtectionLevel

log = logging.getLogger(__name__)

LEVELS = {"edit": "sysop", "move": "sysop"}
INTRO = (
    "Public statements of the operator's office actions, one per action, written by the "
    "role account only.\n"
)
RETRY_SECONDS = 30.0


class LogWiki(Protocol):
    async def page_state(self, title: str) -> PageState: ...

    async def edit(
        self, title: str, *, text: str | None = None, summary: str, createonly: bool = False
    ) -> EditResult: ...

    async def protect(
        self, title: str, *, protections: dict[str, str], reason: str, expiry: str = "infinite"
    ) -> list[ProtectionLevel]: ...


async def protect_log_page(wiki: LogWiki, title: str) -> bool:
    """Create and protect the page where needed; True when something was changed."""
    state = await wiki.page_state(title)
    changed = False
    if not state.exists:
        try:
            await wiki.edit(title, text=INTRO, summary="Office actions log", createonly=True)
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


def keep_protected(wiki: LogWiki, title: str) -> Callable[[], Coroutine[Any, Any, None]]:
    """A start-up duty: protect the page (retrying while the wiki is unreachable), then idle."""

    async def duty() -> None:
        while True:
            try:
                if await protect_log_page(wiki, title):
                    log.info("public log page %s created or protected", title)
                break
            except Exception:
                log.exception("protecting the public log page failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)
        await asyncio.Event().wait()  # a duty that returned would stop the service

    return duty

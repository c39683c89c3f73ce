"""Pages: read, edit, protect, delete and restore them, and hide their revisions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from casework.mediawiki.errors import MediaWikiError
from casework.mediawiki.models import (
    EditResult,
    PageRevision,
    PageSize,
    PageState,
    ProtectionLevel,
    RevisionFlags,
    _expiry,
    _revision_flags,
    _timestamp,
)
from casework.mediawiki.session import Session

log = logging.getLogger("casework.mediawiki")


class PageActions(Session):
    async def page(self, title: str) -> PageRevision | None:
        """The current revision of ``title``, or None if the page does not exist."""
        reply = await self._read(
            {
                "action": "query",
                "prop": "revisions",
                "titles": title,
                "rvprop": "ids|timestamp|content",
                "rvslots": "main",
            },
        )
        (page,) = reply["query"]["pages"]
        if page.get("invalid"):
            raise MediaWikiError("invalidtitle", page.get("invalidreason", title))
        if page.get("missing"):
            return None
        (revision,) = page["revisions"]
        return PageRevision(
            title=page["title"],
            pageid=int(page["pageid"]),
            revid=int(revision["revid"]),
            timestamp=_timestamp(revision["timestamp"]),
            text=revision["slots"]["main"]["content"],
        )

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
    ) -> EditResult:
        """Replace the page with ``text`` or add ``appendtext`` to its end (exactly one).
        An append retried after a lost answer could land twice: see ``append_once``."""
        if (text is None) == (appendtext is None):
            raise ValueError("edit() needs exactly one of text and appendtext")
        return await self._edit(
            {
                "title": title,
                "text": text,
                "appendtext": appendtext,
                "summary": summary,
                "baserevid": baserevid,
                "createonly": createonly,
                "nocreate": nocreate,
            }
        )

    async def append_once(
        self, title: str, text: str, summary: str, *, after: int | None = None
    ) -> int:
        """Append ``text`` to ``title`` in one edit with ``summary``, never twice; the new
        revision's id. A request that failed may still have reached the wiki, so before
        each new try this looks for the account's edit with ``summary`` made after revision
        ``after`` (default: the page's latest before the first try); when the request was
        sent and no answer came, it keeps looking for twice the client's timeout."""
        if after is None:
            after = await self.latest_revision(title)
        for attempt in range(1, self._retry_attempts + 1):
            try:
                result = await self._edit(
                    {"title": title, "appendtext": text, "summary": summary}, retry=False
                )
                return result.newrevid if result.newrevid is not None else after
            except MediaWikiError as err:
                if not err.transient or attempt == self._retry_attempts:
                    raise
                landed = await self._landed(title, summary, after, err.maybe_running)
                if landed is not None:
                    log.info("%s: the edit %r landed after all (r%d)", title, summary, landed)
                    return landed
                wait = min(self._retry_initial_wait * 2 ** (attempt - 1), self._retry_max_wait)
                log.warning("%s: edit %r failed (%s); again in %.1fs", title, summary, err, wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def append_unless_made(self, title: str, text: str, summary: str) -> int:
        """The revision of this account's edit of ``title`` with ``summary``: the one made
        before, or else ``text`` appended now (append_once). ``summary`` must name this edit
        alone: then no edit of the account has it yet, any later one with it is this one,
        and the page's latest revision need not be read first (``after=0``)."""
        made = await self.own_edit(title, summary)
        if made is not None:
            return made
        return await self.append_once(title, text, summary, after=0)

    async def _landed(
        self, title: str, summary: str, after: int, maybe_running: bool
    ) -> int | None:
        # A request the client gave up on may still wait in the wiki's queue: twice the
        # timeout covers it being served as late as the client had waited for it.
        deadline = time.monotonic() + (2 * self._timeout if maybe_running else 0.0)
        while True:
            found = await self.own_edit(title, summary, after=after)
            if found is not None or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    async def _edit(self, fields: dict[str, Any], *, retry: bool = True) -> EditResult:
        reply = await self._write({"action": "edit", **fields}, retry=retry)
        result = reply["edit"]
        if result.get("result") != "Success":
            # e.g. a captcha or an extension hook refusing the edit
            raise MediaWikiError("editfailure", repr(result))
        return EditResult(
            title=result["title"],
            pageid=int(result["pageid"]),
            newrevid=result.get("newrevid"),
            oldrevid=result.get("oldrevid"),
            nochange=bool(result.get("nochange", False)),
            new=bool(result.get("new", False)),
        )

    async def latest_revision(self, title: str) -> int:
        """The id of the page's current revision; 0 if it does not exist."""
        reply = await self._read({"action": "query", "prop": "info", "titles": title})
        (page,) = reply["query"]["pages"]
        return int(page.get("lastrevid") or 0)

    async def page_sizes(self, *titles: str) -> dict[str, PageSize]:
        """Each page's latest revision and length, keyed by the title as asked (one read)."""
        reply = await self._read({"action": "query", "prop": "info", "titles": "|".join(titles)})
        query = reply["query"]
        asked = {n["to"]: n["from"] for n in query.get("normalized", [])}
        return {
            asked.get(page["title"], page["title"]): PageSize(
                int(page.get("lastrevid") or 0), int(page.get("length") or 0)
            )
            for page in query["pages"]
        }

    async def created_by_us(self, title: str) -> bool:
        """Whether this client's account made the page's first revision (False: no page,
        or its creator hidden)."""
        reply = await self._read(
            {
                "action": "query",
                "prop": "revisions",
                "titles": title,
                "rvdir": "newer",
                "rvlimit": 1,
                "rvprop": "user",
            }
        )
        (page,) = reply["query"]["pages"]
        revisions = page.get("revisions", [])
        return bool(revisions) and revisions[0].get("user") == self.account

    async def page_state(self, title: str) -> PageState:
        reply = await self._read(
            {"action": "query", "prop": "info", "inprop": "protection", "titles": title}
        )
        (page,) = reply["query"]["pages"]
        if page.get("invalid"):
            raise MediaWikiError("invalidtitle", page.get("invalidreason", title))
        return PageState(
            title=page["title"],
            exists=not page.get("missing", False),
            protection=[
                ProtectionLevel(p["type"], p["level"], _expiry(p["expiry"]))
                for p in page.get("protection", [])
            ],
        )

    async def delete(self, title: str, *, reason: str) -> int:
        """Delete the page; returns the deletion's log id."""
        reply = await self._write({"action": "delete", "title": title, "reason": reason})
        return int(reply["delete"]["logid"])

    async def undelete(self, title: str, *, reason: str) -> int:
        """Restore every deleted revision of the page; returns how many came back."""
        reply = await self._write({"action": "undelete", "title": title, "reason": reason})
        return int(reply["undelete"].get("revisions", 0))

    async def protect(
        self,
        title: str,
        *,
        protections: dict[str, str],
        reason: str,
        expiry: str = "infinite",
        expiries: Mapping[str, str] | None = None,
    ) -> list[ProtectionLevel]:
        """Set protection levels (``{"edit": "sysop"}``; level ``all`` removes one), each
        until ``expiries[type]`` if given, else ``expiry`` (a duration or a timestamp)."""
        until = expiries or {}
        reply = await self._write(
            {
                "action": "protect",
                "title": title,
                "protections": "|".join(f"{k}={v}" for k, v in protections.items()),
                "expiry": "|".join(until.get(k, expiry) for k in protections),
                "reason": reason,
            }
        )
        return [
            ProtectionLevel(kind, level, _expiry(p["expiry"]))
            for p in reply["protect"]["protections"]
            for kind, level in p.items()
            if kind != "expiry"
        ]

    async def revisions(self, title: str) -> list[RevisionFlags]:
        """The live revisions of a page (up to the API's limit), newest first."""
        reply = await self._read(
            {
                "action": "query",
                "prop": "revisions",
                "titles": title,
                "rvprop": "ids|flags|timestamp|comment|user|sha1",
                "rvlimit": "max",
            }
        )
        (page,) = reply["query"]["pages"]
        return [_revision_flags(r) for r in page.get("revisions", [])]

    async def own_edit(self, title: str, summary: str, *, after: int = 0) -> int | None:
        """The newest revision of ``title`` (newer than revision ``after``) made by this
        client's account with exactly ``summary``, or None: what the page's text says does
        not count, only who edited."""
        params: dict[str, Any] = {
            "action": "query",
            "prop": "revisions",
            "titles": title,
            "rvprop": "ids|comment|user",
            "rvuser": self.account,
            "rvlimit": "max",
        }
        while True:
            reply = await self._read(params)
            (page,) = reply["query"]["pages"]
            for revision in page.get("revisions", []):
                if int(revision["revid"]) <= after:
                    return None  # newest first: the rest are older still
                if revision.get("comment") == summary and not revision.get("commenthidden"):
                    return int(revision["revid"])
            more = reply.get("continue", {}).get("rvcontinue")
            if not more:
                return None
            params = {**params, "rvcontinue": more}

    async def revision_flags(self, revids: Sequence[int]) -> dict[int, RevisionFlags]:
        """Visibility of live revisions by id; ids of deleted or unknown revisions are absent."""
        reply = await self._read(
            {
                "action": "query",
                "prop": "revisions",
                "revids": "|".join(str(r) for r in revids),
                "rvprop": "ids|flags|timestamp|comment|user|sha1",
            }
        )
        return {
            flags.revid: flags
            for page in reply["query"].get("pages", [])
            for flags in map(_revision_flags, page.get("revisions", []))
        }

    async def deleted_revisions(self, title: str) -> list[RevisionFlags]:
        """The archived (deleted) revisions of a page, with their visibility."""
        reply = await self._read(
            {
                "action": "query",
                "prop": "deletedrevisions",
                "titles": title,
                "drvprop": "ids|flags|timestamp|comment|user|sha1",
                "drvlimit": "max",
            }
        )
        (page,) = reply["query"]["pages"]
        return [_revision_flags(r) for r in page.get("deletedrevisions", [])]

    async def revision_delete(
        self,
        *,
        kind: str,
        ids: Sequence[str],
        reason: str,
        target: str | None = None,
        hide: Sequence[str] = (),
        show: Sequence[str] = (),
        suppress: str = "nochange",
    ) -> list[dict[str, Any]]:
        """action=revisiondelete: ``kind`` revision (ids: rev ids) or archive (ids: timestamps,
        ``target`` the page). ``suppress`` yes/no/nochange. Raises on a per-item error."""
        reply = await self._write(
            {
                "action": "revisiondelete",
                "type": kind,
                "target": target,
                "ids": "|".join(ids),
                "hide": "|".join(hide) or None,
                "show": "|".join(show) or None,
                "suppress": suppress,
                "reason": reason,
            }
        )
        result = reply["revisiondelete"]
        items: list[dict[str, Any]] = list(result.get("items", []))
        for item in items:
            if item.get("errors"):
                error = item["errors"][0]
                raise MediaWikiError(str(error.get("code", "revdelfailed")), repr(item["errors"]))
        if result.get("status") != "Success":
            raise MediaWikiError("revdelfailed", repr(result.get("errors", result)))
        return items

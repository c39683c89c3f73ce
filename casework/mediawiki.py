"""Async client for the MediaWiki Action API (the bits enforcement and notify need).

Logs in with a bot password (lazily, on first use), caches the CSRF token, and sends every
request with ``assert=user`` so that reads see what the account may see (hidden blocks).
A request that fails with ``badtoken`` refetches the token, one that fails with
``assertuserfailed`` (session lost) logs in again; either is retried once. Transient failures
(network errors, HTTP 5xx/429, ``ratelimited``, ``readonly``, ``maxlag``,
``internal_api_error_*``) are retried with exponential backoff; everything else raises
:class:`MediaWikiError` at once.

Retrying a write after a network error can repeat it if the first attempt did reach the wiki:
callers should expect e.g. ``alreadyblocked`` on a retried block.

Size: one client class, since every call shares its session, login, tokens and retries;
splitting the action wrappers (blocks, rights, pages, logs) into mixins is left to issue 16.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from casework.coalesce import Coalescer

log = logging.getLogger(__name__)

# Users per list=blocks or list=users read: the API's limit of bkusers and ususers for an
# account without apihighlimits.
BLOCK_READ_USERS = 50
TRANSIENT_CODES = frozenset({"ratelimited", "readonly", "maxlag"})
_INFINITE = frozenset({"infinite", "infinity", "indefinite", "never"})


class MediaWikiError(Exception):
    """An API error (``code``/``info`` as the wiki sent them) or a transport failure."""

    def __init__(self, code: str, info: str, *, transient: bool | None = None) -> None:
        super().__init__(f"{code}: {info}")
        self.code = code
        self.info = info
        self.transient = is_transient(code) if transient is None else transient


class LoginError(MediaWikiError):
    """action=login did not succeed; ``code`` is ``login-<result>``, e.g. ``login-failed``."""


def is_transient(code: str) -> bool:
    return code in TRANSIENT_CODES or code.startswith("internal_api_error_")


@dataclass(frozen=True)
class BlockResult:
    id: int
    user: str
    expiry: datetime | None  # None: infinite
    reason: str
    logid: int | None  # MediaWiki 1.39 does not report it


@dataclass(frozen=True)
class UnblockResult:
    id: int
    user: str


@dataclass(frozen=True)
class BlockInfo:
    id: int
    user: str
    by: str
    timestamp: datetime
    expiry: datetime | None  # None: infinite
    reason: str
    nocreate: bool
    autoblock: bool
    anononly: bool
    noemail: bool
    allowusertalk: bool
    hidden: bool
    partial: bool

    @property
    def infinite(self) -> bool:
        return self.expiry is None


@dataclass(frozen=True)
class PageRevision:
    title: str
    pageid: int
    revid: int
    timestamp: datetime
    text: str


@dataclass(frozen=True)
class EditResult:
    title: str
    pageid: int
    newrevid: int | None  # None when nochange
    oldrevid: int | None
    nochange: bool
    new: bool


@dataclass(frozen=True)
class RightsResult:
    user: str
    added: list[str]
    removed: list[str]  # empty when nothing changed (the groups were not held, or no right)


@dataclass(frozen=True)
class ProtectionLevel:
    type: str  # edit, move, create, upload
    level: str  # e.g. sysop, autoconfirmed
    expiry: datetime | None  # None: infinite


@dataclass(frozen=True)
class PageState:
    title: str
    exists: bool
    protection: list[ProtectionLevel]


@dataclass(frozen=True)
class RevisionFlags:
    revid: int
    texthidden: bool
    commenthidden: bool
    userhidden: bool
    suppressed: bool
    timestamp: datetime | None = None


@dataclass(frozen=True)
class LogEvent:
    logid: int
    type: str
    action: str
    title: str
    user: str
    timestamp: datetime
    comment: str
    params: dict[str, Any]


@dataclass(frozen=True)
class GlobalAccount:
    """CentralAuth's view of a global account (meta=globaluserinfo)."""

    id: int
    name: str
    locked: bool
    hidden_level: int  # 0 visible, 1 hidden from lists, 2 suppressed

    def state_hash(self) -> str:
        """CentralUser::getStateHash(): what ``statecheck`` must equal for a change to apply."""
        text = f"{self.id}:{self.name}:{self.hidden_level}:{int(self.locked)}"
        return hashlib.md5(text.encode()).hexdigest()


class MediaWikiClient:
    def __init__(
        self,
        api_url: str,
        username: str,
        password: str,
        *,
        user_agent: str = "casework/0.1 (office actions)",
        timeout: float = 30.0,
        retry_attempts: int = 4,
        retry_initial_wait: float = 0.5,
        retry_max_wait: float = 8.0,
    ) -> None:
        self.api_url = api_url
        self.username = username
        self._password = password
        self._user_agent = user_agent
        self._timeout = timeout
        self._retry_attempts = retry_attempts
        self._retry_initial_wait = retry_initial_wait
        self._retry_max_wait = retry_max_wait
        self._session: aiohttp.ClientSession | None = None
        self._auth_lock = asyncio.Lock()
        self._logged_in = False
        self._login_generation = 0
        self._csrf_token: str | None = None
        self._tokens: dict[str, str] = {}  # other token types (userrights, …)
        # Concurrent active_blocks reads go to the wiki as one list=blocks of many users.
        self.block_reads = Coalescer(self._blocks_of, self._blocks_one, BLOCK_READ_USERS)
        self.user_reads = Coalescer(self._users_of, self._user_one, BLOCK_READ_USERS)

    async def __aenter__(self) -> Self:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                # unsafe=True: keep cookies for IP-address hosts such as 127.0.0.1.
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                headers={"User-Agent": self._user_agent},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._logged_in = False
        self._csrf_token = None
        self._tokens.clear()

    # --- session -------------------------------------------------------------------------

    async def login(self) -> None:
        async with self._auth_lock:
            await self._login()

    async def _login(self) -> None:
        # A bot-password session refuses a second action=login: start from a clean jar.
        self._http.cookie_jar.clear()
        self._logged_in = False
        self._csrf_token = None
        self._tokens.clear()
        reply = await self._call("GET", {"action": "query", "meta": "tokens", "type": "login"})
        token = reply["query"]["tokens"]["logintoken"]
        reply = await self._call(
            "POST",
            {
                "action": "login",
                "lgname": self.username,
                "lgpassword": self._password,
                "lgtoken": token,
            },
        )
        result = reply["login"]
        if result.get("result") != "Success":
            status = str(result.get("result", "unknown")).lower()
            reason = result.get("reason", "no reason given")
            raise LoginError(f"login-{status}", f"{self.username}: {reason}", transient=False)
        self._logged_in = True
        self._login_generation += 1
        log.info("logged in to %s as %s", self.api_url, result.get("lgusername"))

    async def _session_state(self, token_type: str | None) -> tuple[str | None, int]:
        async with self._auth_lock:
            if not self._logged_in:
                await self._login()
            if token_type == "csrf":
                if self._csrf_token is None:
                    reply = await self._call("GET", {"action": "query", "meta": "tokens"})
                    self._csrf_token = str(reply["query"]["tokens"]["csrftoken"])
                return self._csrf_token, self._login_generation
            if token_type is not None and token_type not in self._tokens:
                reply = await self._call(
                    "GET", {"action": "query", "meta": "tokens", "type": token_type}
                )
                self._tokens[token_type] = str(reply["query"]["tokens"][f"{token_type}token"])
            token = self._tokens.get(token_type) if token_type else None
            return token, self._login_generation

    async def _read(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._as_user("GET", params, None)

    async def _write(self, params: dict[str, Any], token_type: str = "csrf") -> dict[str, Any]:
        return await self._as_user("POST", params, token_type)

    async def _as_user(
        self, method: str, params: dict[str, Any], token_type: str | None
    ) -> dict[str, Any]:
        """Call as the logged-in user (``assert=user``), so reads see what the account may see."""
        for attempt in (1, 2):
            token, generation = await self._session_state(token_type)
            try:
                return await self._call(method, {**params, "token": token, "assert": "user"})
            except MediaWikiError as err:
                if attempt == 2 or err.code not in ("badtoken", "assertuserfailed"):
                    raise
                log.info("%s on %s; refreshing the session", err.code, params.get("action"))
                async with self._auth_lock:
                    # Another task may have refreshed already; do not throw its work away.
                    if err.code == "badtoken" and self._csrf_token == token:
                        self._csrf_token = None
                    if err.code == "badtoken" and token_type in self._tokens:
                        if self._tokens[token_type] == token:
                            del self._tokens[token_type]
                    if err.code == "assertuserfailed" and self._login_generation == generation:
                        self._logged_in = False
        raise AssertionError("unreachable")

    # --- transport -----------------------------------------------------------------------

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("MediaWikiClient used outside 'async with'")
        return self._session

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "%s %s failed (%s); attempt %d, retrying in %.2fs",
                method,
                params.get("action"),
                error,
                state.attempt_number,
                wait,
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda e: isinstance(e, MediaWikiError) and e.transient),
            stop=stop_after_attempt(self._retry_attempts),
            wait=wait_exponential(multiplier=self._retry_initial_wait, max=self._retry_max_wait),
            before_sleep=log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._call_once(method, params)
        raise AssertionError("unreachable")

    async def _call_once(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        fields = _encode({**params, "format": "json", "formatversion": "2"})
        try:
            if method == "GET":
                request = self._http.get(self.api_url, params=fields)
            else:
                request = self._http.post(self.api_url, data=fields)
            async with request as response:
                if response.status >= 400:
                    text = (await response.text())[:500]
                    transient = response.status >= 500 or response.status == 429
                    raise MediaWikiError(f"http-{response.status}", text, transient=transient)
                try:
                    body = await response.json(content_type=None)
                except ValueError as err:
                    text = (await response.text())[:500]
                    raise MediaWikiError("badresponse", f"not JSON: {text!r}") from err
        except (aiohttp.ClientError, TimeoutError) as err:
            raise MediaWikiError("network", f"{type(err).__name__}: {err}", transient=True) from err
        if not isinstance(body, dict):
            raise MediaWikiError("badresponse", f"not a JSON object: {body!r}")
        if "error" in body:
            error = body["error"]
            raise MediaWikiError(str(error.get("code")), str(error.get("info", "")))
        if "warnings" in body:
            log.warning("API warnings for %s: %s", params.get("action"), body["warnings"])
        return body

    # --- blocks --------------------------------------------------------------------------

    async def block(
        self,
        user: str,
        *,
        reason: str,
        expiry: str = "infinite",
        nocreate: bool = True,
        autoblock: bool = True,
        allow_usertalk: bool = True,
        noemail: bool = False,
        hidename: bool = False,
        reblock: bool = False,
        partial: bool = False,
        pages: Sequence[str] = (),
        namespaces: Sequence[int] = (),
    ) -> BlockResult:
        """Sitewide block, or with ``partial`` one from ``pages`` and ``namespaces`` only.

        With ``reblock`` an existing block is replaced, every flag included.
        """
        reply = await self._write(
            {
                "partial": partial,
                "pagerestrictions": "|".join(pages) or None,
                "namespacerestrictions": "|".join(str(n) for n in namespaces) or None,
                "action": "block",
                "user": user,
                "reason": reason,
                "expiry": expiry,
                "nocreate": nocreate,
                "autoblock": autoblock,
                "allowusertalk": allow_usertalk,
                "noemail": noemail,
                "hidename": hidename,
                "reblock": reblock,
            }
        )
        result = reply["block"]
        return BlockResult(
            id=int(result["id"]),
            user=result["user"],
            expiry=_expiry(result["expiry"]),
            reason=result.get("reason", reason),
            logid=result.get("logid"),
        )

    async def unblock(
        self, user: str | None = None, *, reason: str, block_id: int | None = None
    ) -> UnblockResult:
        """Lift the block of ``user``, or the block with ``block_id``."""
        reply = await self._write(
            {"action": "unblock", "user": user, "id": block_id, "reason": reason}
        )
        result = reply["unblock"]
        return UnblockResult(id=int(result["id"]), user=result["user"])

    async def active_blocks(self, user: str) -> list[BlockInfo]:
        """The blocks on ``user``. Read together with the other users asked for meanwhile
        (an IP or range, or a name that cannot go in a list, is read on its own)."""
        if not _listable(user):
            return await self._blocks_one(user)
        return await self.block_reads.get(user)

    async def _blocks_one(self, user: str) -> list[BlockInfo]:
        return [_block_info(b) for b in await self._block_query(user)]

    async def _blocks_of(self, users: list[str]) -> dict[str, list[BlockInfo]]:
        """Each of ``users``' blocks, from one read. A block on a name not asked for (the
        wiki spells a name otherwise than ``_canonical``) fails it: read them one by one."""
        asked: dict[str, list[str]] = {}
        for user in users:
            asked.setdefault(_canonical(user), []).append(user)
        found: dict[str, list[BlockInfo]] = {user: [] for user in users}
        for b in await self._block_query("|".join(asked)):
            if b["user"] not in asked:
                raise MediaWikiError("badresponse", f"a block on {b['user']!r}, not asked for")
            for user in asked[b["user"]]:
                found[user].append(_block_info(b))
        return found

    async def _block_query(self, users: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "action": "query",
            "list": "blocks",
            "bkusers": users,
            "bkprop": "id|user|by|timestamp|expiry|reason|flags",
            "bklimit": "max",
        }
        blocks: list[dict[str, Any]] = []
        while True:
            reply = await self._read(params)
            blocks.extend(reply["query"]["blocks"])
            if "continue" not in reply:
                return blocks
            params = {**params, **reply["continue"]}

    # --- pages ---------------------------------------------------------------------------

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
        """Replace the page with ``text`` or add ``appendtext`` to its end (exactly one)."""
        if (text is None) == (appendtext is None):
            raise ValueError("edit() needs exactly one of text and appendtext")
        reply = await self._write(
            {
                "action": "edit",
                "title": title,
                "text": text,
                "appendtext": appendtext,
                "summary": summary,
                "baserevid": baserevid,
                "createonly": createonly,
                "nocreate": nocreate,
            }
        )
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

    # --- rights --------------------------------------------------------------------------

    async def user_rights(
        self,
        user: str,
        *,
        reason: str,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
    ) -> RightsResult:
        """action=userrights with its own token type; ``removed``/``added`` say what changed."""
        reply = await self._write(
            {
                "action": "userrights",
                "user": user,
                "add": "|".join(add) or None,
                "remove": "|".join(remove) or None,
                "reason": reason,
            },
            token_type="userrights",
        )
        result = reply["userrights"]
        return RightsResult(
            user=str(result["user"]),
            added=[str(g) for g in result.get("added", [])],
            removed=[str(g) for g in result.get("removed", [])],
        )

    # --- content: delete, revision-delete, protect ---------------------------------------

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
        self, title: str, *, protections: dict[str, str], reason: str, expiry: str = "infinite"
    ) -> list[ProtectionLevel]:
        """Set protection levels (``{"edit": "sysop"}``; level ``all`` removes one)."""
        reply = await self._write(
            {
                "action": "protect",
                "title": title,
                "protections": "|".join(f"{k}={v}" for k, v in protections.items()),
                "expiry": "|".join(expiry for _ in protections),
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

    @property
    def account(self) -> str:
        """The wiki user the client edits as (a bot password's ``User@bot`` is ``User``)."""
        return self.username.split("@", 1)[0]

    async def own_edit(self, title: str, summary: str) -> int | None:
        """The newest revision of ``title`` made by this client's account with exactly
        ``summary``, or None: what the page's text says does not count, only who edited."""
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

    # --- logs ----------------------------------------------------------------------------

    async def log_events(
        self,
        *,
        since: datetime | None = None,
        log_type: str | None = None,
        title: str | None = None,
        limit: int = 500,
    ) -> list[LogEvent]:
        """Log entries oldest first, from ``since`` (inclusive) on, or the latest ``limit``."""
        params: dict[str, Any] = {
            "action": "query",
            "list": "logevents",
            "leprop": "ids|title|type|user|timestamp|comment|details",
            "lelimit": str(limit),
            "letype": log_type,
            "letitle": title,
        }
        if since is not None:
            params |= {"ledir": "newer", "lestart": since.strftime("%Y-%m-%dT%H:%M:%SZ")}
        reply = await self._read(params)
        events = [
            LogEvent(
                logid=int(e["logid"]),
                type=str(e["type"]),
                action=str(e["action"]),
                title=str(e.get("title", "")),
                user=str(e.get("user", "")),
                timestamp=_timestamp(e["timestamp"]),
                comment=str(e.get("comment", "")),
                params=dict(e.get("params", {})),
            )
            for e in reply["query"]["logevents"]
        ]
        return events if since is not None else events[::-1]

    # --- CentralAuth ---------------------------------------------------------------------

    async def global_account(self, user: str) -> GlobalAccount | None:
        """meta=globaluserinfo (CentralAuth); None when there is no global account."""
        reply = await self._read({"action": "query", "meta": "globaluserinfo", "guiuser": user})
        info = reply["query"]["globaluserinfo"]
        if info.get("missing"):
            return None
        # globaluserinfo only says "hidden"; a suppressed account is not ours to lock anyway.
        return GlobalAccount(
            id=int(info["id"]),
            name=str(info["name"]),
            locked=bool(info.get("locked", False)),
            hidden_level=1 if info.get("hidden") else 0,
        )

    async def set_global_account_status(
        self, user: str, *, locked: bool, reason: str, statecheck: str
    ) -> dict[str, Any]:
        """action=setglobalaccountstatus (CentralAuth), guarded by ``statecheck``."""
        reply = await self._write(
            {
                "action": "setglobalaccountstatus",
                "user": user,
                "locked": "lock" if locked else "unlock",
                "reason": reason,
                "statecheck": statecheck,
            },
            token_type="setglobalaccountstatus",
        )
        return dict(reply["setglobalaccountstatus"])

    # --- users ---------------------------------------------------------------------------

    async def user_groups(self, user: str) -> list[str]:
        """Every group of ``user`` as the wiki reports it, implicit ones (``*``, ``user``) too."""
        info = await self._user(user)
        if info.get("missing") or info.get("invalid"):
            raise MediaWikiError("nosuchuser", f"There is no user by the name {user!r}")
        return [str(group) for group in info.get("groups", [])]

    async def ping(self) -> None:
        """Health check: the wiki answers and the role account's session is valid."""
        await self._read({"action": "query", "meta": "userinfo"})

    async def user_exists(self, user: str) -> bool:
        info = await self._user(user)
        return not (info.get("missing") or info.get("invalid"))

    async def _user(self, user: str) -> dict[str, Any]:
        if not _listable(user):
            return await self._user_one(user)
        return await self.user_reads.get(user)

    async def _user_one(self, user: str) -> dict[str, Any]:
        reply = await self._read(
            {"action": "query", "list": "users", "ususers": user, "usprop": "groups"}
        )
        (info,) = reply["query"]["users"]
        return dict(info)

    async def _users_of(self, users: list[str]) -> dict[str, dict[str, Any]]:
        """Each of ``users`` from one read; a name answered in another spelling, or not
        answered, fails it (then they are read one by one)."""
        asked: dict[str, list[str]] = {}
        for user in users:
            asked.setdefault(_canonical(user), []).append(user)
        reply = await self._read(
            {"action": "query", "list": "users", "ususers": "|".join(asked), "usprop": "groups"}
        )
        found: dict[str, dict[str, Any]] = {}
        for info in reply["query"]["users"]:
            for user in asked.get(info.get("name", ""), []):
                found[user] = dict(info)
        if len(found) != len(users):
            raise MediaWikiError("badresponse", "list=users did not answer every name asked")
        return found


def _revision_flags(r: dict[str, Any]) -> RevisionFlags:
    return RevisionFlags(
        revid=int(r["revid"]),
        texthidden=bool(r.get("texthidden") or r.get("sha1hidden")),
        commenthidden=bool(r.get("commenthidden", False)),
        userhidden=bool(r.get("userhidden", False)),
        suppressed=bool(r.get("suppressed", False)),
        timestamp=_timestamp(r["timestamp"]) if "timestamp" in r else None,
    )


def _block_info(b: dict[str, Any]) -> BlockInfo:
    return BlockInfo(
        id=int(b["id"]),
        user=b["user"],
        by=b["by"],
        timestamp=_timestamp(b["timestamp"]),
        expiry=_expiry(b["expiry"]),
        reason=b.get("reason", ""),
        nocreate=b.get("nocreate", False),
        autoblock=b.get("autoblock", False),
        anononly=b.get("anononly", False),
        noemail=b.get("noemail", False),
        allowusertalk=b.get("allowusertalk", False),
        hidden=b.get("hidden", False),
        partial=b.get("partial", False),
    )


def _listable(user: str) -> bool:
    """A user name that can go in a list of names and be found again in the answer (not an
    IP or range, whose spelling the wiki changes in other ways)."""
    if not user.strip() or "|" in user or not user.isprintable():
        return False
    try:
        ipaddress.ip_network(user.strip(), strict=False)
    except ValueError:
        return True
    return False


def _canonical(user: str) -> str:
    """The name as the wiki spells it: spaces for underscores, trimmed, first letter upper."""
    name = re.sub(r"[ _]+", " ", user).strip()
    return name[:1].upper() + name[1:]


def _encode(params: dict[str, Any]) -> dict[str, str]:
    """Action API conventions: a boolean is true when present, so drop False and None."""
    fields: dict[str, str] = {}
    for key, value in params.items():
        if value is None or value is False:
            continue
        fields[key] = "1" if value is True else str(value)
    return fields


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _expiry(value: str) -> datetime | None:
    return None if value in _INFINITE else _timestamp(value)

"""Blocks: place, lift, and read them (concurrent reads of many users go as one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from casework.coalesce import Coalescer
from casework.mediawiki.errors import MediaWikiError
from casework.mediawiki.models import (
    BlockInfo,
    BlockResult,
    BlockState,
    UnblockResult,
    _block_info,
    _expiry,
)
from casework.mediawiki.names import _canonical, _listable
from casework.mediawiki.session import Session


class BlockActions(Session):
    block_reads: Coalescer[str, BlockState]  # made by MediaWikiClient

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
        """The blocks on ``user`` (see block_state)."""
        return (await self.block_state(user)).blocks

    async def block_state(self, user: str) -> BlockState:
        """The blocks on ``user`` and the wiki's newest log id, from the same read. Read
        together with the other users asked for meanwhile (an IP or range, or a name that
        cannot go in a list, is read on its own)."""
        if not _listable(user):
            return await self._blocks_one(user)
        return await self.block_reads.get(user)

    async def _blocks_one(self, user: str) -> BlockState:
        blocks, mark = await self._block_query(user)
        return BlockState([_block_info(b) for b in blocks], mark)

    async def _blocks_of(self, users: list[str]) -> dict[str, BlockState]:
        """Each of ``users``' blocks, from one read. A block on a name not asked for (the
        wiki spells a name otherwise than ``_canonical``) fails it: read them one by one."""
        asked: dict[str, list[str]] = {}
        for user in users:
            asked.setdefault(_canonical(user), []).append(user)
        found: dict[str, list[BlockInfo]] = {user: [] for user in users}
        blocks, mark = await self._block_query("|".join(asked))
        for b in blocks:
            if b["user"] not in asked:
                raise MediaWikiError("badresponse", f"a block on {b['user']!r}, not asked for")
            for user in asked[b["user"]]:
                found[user].append(_block_info(b))
        return {user: BlockState(found[user], mark) for user in users}

    async def _block_query(self, users: str) -> tuple[list[dict[str, Any]], int]:
        """The blocks of ``users`` and the newest log id: list=logevents rides along on the
        first page (a log mark costs no request of its own), later pages are blocks alone."""
        params: dict[str, Any] = {
            "action": "query",
            "list": "blocks",
            "bkusers": users,
            "bkprop": "id|user|by|timestamp|expiry|reason|flags|restrictions",
            "bklimit": "max",
        }
        reply = await self._read(
            {**params, "list": "blocks|logevents", "leprop": "ids", "lelimit": "1"}
        )
        newest = reply["query"]["logevents"]
        mark = int(newest[0]["logid"]) if newest else 0
        blocks: list[dict[str, Any]] = []
        while True:
            blocks.extend(reply["query"]["blocks"])
            more = reply.get("continue", {})
            if "bkcontinue" not in more:
                return blocks, mark
            reply = await self._read(
                {**params, "bkcontinue": more["bkcontinue"], "continue": more["continue"]}
            )

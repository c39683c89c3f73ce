"""What the wiki answers, as values; and the readers of its timestamps, expiries,
revisions and blocks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_INFINITE = frozenset({"infinite", "infinity", "indefinite", "never"})


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
    pages: tuple[str, ...] = ()  # a partial block's pages and namespaces
    namespaces: tuple[int, ...] = ()

    @property
    def infinite(self) -> bool:
        return self.expiry is None


@dataclass(frozen=True)
class BlockState:
    """A user's blocks, and the wiki's newest log id when they were read (0: an empty log):
    a log entry with a higher id came after the read."""

    blocks: list[BlockInfo]
    log_mark: int


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
class PageSize:
    revid: int  # the latest revision; 0: no such page
    length: int  # in bytes, as MediaWiki counts a page's size


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
        **_restrictions(b.get("restrictions")),
    )


def _restrictions(raw: Any) -> dict[str, Any]:
    """``restrictions`` of list=blocks: ``[]`` for a sitewide block, else pages and namespaces."""
    if not isinstance(raw, dict):
        return {}
    return {
        "pages": tuple(str(p["title"]) for p in raw.get("pages", [])),
        "namespaces": tuple(int(n) for n in raw.get("namespaces", [])),
    }


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _expiry(value: str) -> datetime | None:
    return None if value in _INFINITE else _timestamp(value)

"""Users: their groups and rights, their global (CentralAuth) accounts, and the health
check (concurrent reads of many users go as one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from casework.coalesce import Coalescer
from casework.mediawiki.errors import MediaWikiError
from casework.mediawiki.models import GlobalAccount, RightsResult
from casework.mediawiki.names import _canonical, _listable
from casework.mediawiki.session import Session


class UserActions(Session):
    user_reads: Coalescer[str, dict[str, Any]]  # made by MediaWikiClient

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

"""The wiki's logs (list=logevents)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casework.mediawiki.models import LogEvent, _timestamp
from casework.mediawiki.session import Session


class LogReads(Session):
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

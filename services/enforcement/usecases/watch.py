"""Post-action monitoring: read each wiki's log since a stored cursor, and publish a
TamperingDetected for every entry by someone other than the role account that changes what an
office action put in place. Once per log entry (the tampering id is wiki:logid); restoring is
staff's decision (RestorationOrdered), never automatic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from casework.contract import TamperingDetected, to_cloudevent, topic_of
from casework.mediawiki import LogEvent, MediaWikiClient
from casework.outbox import OutboxRelay
from casework.store import DocumentStore, DuplicateDocument, OutboxMessage
from services.enforcement.adapters.store import CURSORS, ENFORCEMENTS, TAMPERING
from services.enforcement.adapters.stored import from_document
from services.enforcement.domain import EnforcementRecord, tampered
from services.enforcement.usecases.enforcer import now_utc

log = logging.getLogger(__name__)


class Watcher:
    def __init__(
        self,
        store: DocumentStore,
        relay: OutboxRelay,
        wikis: Mapping[str, MediaWikiClient],
        role_user: str,
    ) -> None:
        self.store = store
        self.relay = relay
        self.wikis = wikis
        # A bot password logs in as "User@app"; the wiki's logs name "User".
        self.role_user = role_user.split("@", 1)[0]

    async def poll(self) -> int:
        """One pass over every wiki; returns how many tamperings were newly published."""
        records = [
            from_document(doc) for doc in await self.store.find(ENFORCEMENTS, {"ending": None})
        ]
        # The wikis are read at once: each has its own cursor, log and API.
        found = await asyncio.gather(
            *(self._poll_or_log(wiki_id, wiki, records) for wiki_id, wiki in self.wikis.items())
        )
        return sum(found)

    async def _poll_or_log(
        self, wiki_id: str, wiki: MediaWikiClient, records: list[EnforcementRecord]
    ) -> int:
        try:
            return await self._poll_wiki(wiki_id, wiki, records)
        except Exception:
            log.exception("watching %s failed; next pass tries again", wiki_id)
            return 0

    async def _poll_wiki(
        self, wiki_id: str, wiki: MediaWikiClient, records: list[EnforcementRecord]
    ) -> int:
        cursor = await self.store.get(CURSORS, wiki_id)
        if cursor is None:
            ours = [
                r.received_at for r in records if any(op.wiki == wiki_id for op in r.operations)
            ]
            since = min(ours, default=now_utc()) - timedelta(seconds=1)
            cursor = await self.store.insert(
                CURSORS, {"_id": wiki_id, "since": since.isoformat(), "logid": 0}
            )
        since = datetime.fromisoformat(cursor["since"])
        last_id = int(cursor["logid"])
        entries = [e for e in await wiki.log_events(since=since) if e.logid > last_id]
        found = 0
        for entry in entries:
            if entry.user != self.role_user:
                found += await self._check(wiki_id, entry, records)
        if entries:
            newest = max(entries, key=lambda e: e.logid)
            await self.store.replace(
                CURSORS,
                {"_id": wiki_id, "since": newest.timestamp.isoformat(), "logid": newest.logid},
                expected_version=cursor["_version"],
            )
        return found

    async def _check(self, wiki_id: str, entry: LogEvent, records: list[EnforcementRecord]) -> int:
        for record in records:
            index = tampered(
                record,
                wiki=wiki_id,
                log_type=entry.type,
                log_action=entry.action,
                title=entry.title,
                params=entry.params,
                log_id=entry.logid,
                logged_at=entry.timestamp,
            )
            if index is None:
                continue
            tampering_id = f"{wiki_id}:{entry.logid}"
            event = TamperingDetected(
                tampering_id=tampering_id,
                case_id=record.case_id,
                wiki=wiki_id,
                target=entry.title,
                log_id=entry.logid,
                log_type=entry.type,
                log_action=entry.action,
                performer=entry.user,
                comment=entry.comment,
                logged_at=entry.timestamp,
                detected_at=now_utc(),
            )
            try:
                await self.store.insert(
                    TAMPERING,
                    {"_id": tampering_id, "case_id": record.case_id, "operation": index},
                    outbox=[OutboxMessage(topic_of("enforcement"), to_cloudevent(event))],
                )
            except DuplicateDocument:
                return 0
            self.relay.wake()
            log.warning(
                "tampering with case %s on %s: %s/%s by %s (log %d)",
                record.case_id,
                wiki_id,
                entry.type,
                entry.action,
                entry.user,
                entry.logid,
            )
            return 1
        return 0

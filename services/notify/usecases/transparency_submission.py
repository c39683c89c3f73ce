"""The duty that submits queued DSA statements and Lumen notices to their APIs.

Statements queue in the store as `pending` when an action is enforced; each pass
(``flush``, run periodically by app.py) sends them in batches (at most 100 per call)
and marks them `submitted` with what the API answered. A failed call leaves them
pending for the next round, so nothing is lost and a restart resumes where it stopped.
"""

from __future__ import annotations

from typing import Any

from casework.contract import to_cloudevent, topic_for
from casework.store import DocumentStore, OutboxMessage
from casework.updates import update_document
from services.notify.adapters.collections import LUMEN_NOTICES, STATEMENTS
from services.notify.adapters.transparency import DSA_BATCH_LIMIT, DsaClient, LumenClient
from services.notify.domain.public_events import dsa_statement_submitted
from services.notify.usecases.sender import Clock, utcnow


class TransparencySubmitter:
    def __init__(
        self,
        store: DocumentStore,
        dsa_client: DsaClient | None,
        lumen_client: LumenClient | None,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.clock = clock
        self.dsa = dsa_client
        self.lumen = lumen_client

    async def flush(self) -> int:
        """Submit what is pending; how many documents were submitted."""
        submitted = 0
        if self.dsa is not None:
            while True:
                pending = await self.store.find(
                    STATEMENTS, {"state": "pending"}, order_by="_id", limit=DSA_BATCH_LIMIT
                )
                if not pending:
                    break
                created = await self.dsa.submit([doc["statement"] for doc in pending])
                for doc, answer in zip(pending, created, strict=True):
                    await self._mark(STATEMENTS, doc["_id"], answer)
                submitted += len(pending)
        if self.lumen is not None:
            for doc in await self.store.find(LUMEN_NOTICES, {"state": "pending"}, order_by="_id"):
                answer = await self.lumen.submit(doc["notice"])
                await self._mark(LUMEN_NOTICES, doc["_id"], answer)
                submitted += 1
        return submitted

    async def _mark(self, collection: str, doc_id: str, answer: dict[str, object]) -> None:
        """Submitted, with what the API answered; a public case's DSA statement is told
        to the portal (DsaStatementSubmitted) in the same write, once."""
        now = self.clock()

        def change(doc: dict[str, Any]) -> tuple[dict[str, Any], list[OutboxMessage]]:
            if doc.get("state") == "submitted":
                return doc, []
            outbox = []
            if collection == STATEMENTS and doc.get("public") is True:
                revision = int(doc.get("revision") or doc_id.rpartition(":r")[2])
                told = dsa_statement_submitted(
                    doc["case_id"], revision, doc["statement"], answer, now
                )
                outbox.append(OutboxMessage(topic_for(type(told)), to_cloudevent(told)))
            return {**doc, "state": "submitted", "answer": answer}, outbox

        await update_document(self.store, collection, doc_id, change)

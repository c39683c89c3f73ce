"""Server-side console sessions: a document per session in the store, with an expiry.

The cookie holds a random token; the store keeps only its SHA-256 as the document id,
so a copy of the store does not hand out live sessions. Each session has its own CSRF
token, which every state-changing form must send back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from casework.contract import AwareDatetime
from casework.contract.decision import SignerAuthentication
from casework.store import Document, DocumentStore, OutboxMessage
from casework.updates import NotFound, update_document
from services.review.domain.case import sort_key

SESSIONS = "sessions"


class Session(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    staff_id: str
    csrf_token: str
    started_at: AwareDatetime
    expires_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    # How the person signed in (sessions from before it was kept: unknown).
    authentication: SignerAuthentication | None = None
    # The provider's ID token, sent back as `id_token_hint` when signing out there.
    id_token: str | None = None

    def live(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at

    def csrf_matches(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf_token, sent or "")


class SessionStore:
    def __init__(self, store: DocumentStore, lifetime: timedelta) -> None:
        self.store = store
        self.lifetime = lifetime

    async def start(
        self,
        staff_id: str,
        now: datetime,
        authentication: SignerAuthentication | None = None,
        id_token: str | None = None,
    ) -> tuple[str, Session]:
        """A new session; returns the cookie value (shown once) and the session."""
        cookie = secrets.token_urlsafe(32)
        session = Session(
            id=_digest(cookie),
            staff_id=staff_id,
            csrf_token=secrets.token_urlsafe(32),
            started_at=now,
            expires_at=now + self.lifetime,
            authentication=authentication,
            id_token=id_token,
        )
        await self.store.insert(
            SESSIONS,
            {
                "_id": session.id,
                **session.model_dump(mode="json"),
                "purge_at": sort_key(session.expires_at),
            },
        )
        return cookie, session

    async def find(self, cookie: str, now: datetime) -> Session | None:
        if not cookie:
            return None
        doc = await self.store.get(SESSIONS, _digest(cookie))
        if doc is None:
            return None
        session = Session.model_validate(
            {k: v for k, v in doc.items() if not k.startswith("_") and k != "purge_at"}
        )
        return session if session.live(now) else None

    async def end(self, cookie: str, now: datetime) -> None:
        def change(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            if doc.get("ended_at") is None:
                doc = {**doc, "ended_at": now.isoformat()}
            return doc, []

        try:
            await update_document(self.store, SESSIONS, _digest(cookie), change)
        except NotFound:
            return


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()

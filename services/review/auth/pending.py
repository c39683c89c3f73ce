"""What review keeps server-side between sending a browser to the identity provider and
its return: the authorization request (state, nonce, PKCE verifier), where to go next,
and for a step-up the sign-off the person had typed. One use each; expired ones are
purged with the sessions (auth/purge.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from casework.store import DocumentStore, VersionConflict
from services.review.auth.oidc import AuthRequest
from services.review.domain.case import sort_key

PENDING_LOGINS = "oidc_logins"
SIGNOFF_DRAFTS = "signoff_drafts"
PENDING_LIFETIME = timedelta(minutes=10)
DRAFT_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True)
class PendingLogin:
    request: AuthRequest
    next_path: str
    # A step-up: the level to be signed, who must come back, and the session whose
    # sign-off draft moves to the new session.
    step_up_level: str | None = None
    staff_id: str | None = None
    session_id: str | None = None


class PendingLogins:
    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def prepare(self) -> None:
        for collection in (PENDING_LOGINS, SIGNOFF_DRAFTS):
            await self.store.ensure_index(collection, "purge_at")

    async def keep(self, pending: PendingLogin, now: datetime) -> None:
        request = pending.request
        expires = now + PENDING_LIFETIME
        await self.store.insert(
            PENDING_LOGINS,
            {
                "_id": _digest(request.state),
                "nonce": request.nonce,
                "code_verifier": request.code_verifier,
                "max_age": request.max_age,
                "acr_values": list(request.acr_values),
                "next_path": pending.next_path,
                "step_up_level": pending.step_up_level,
                "staff_id": pending.staff_id,
                "session_id": pending.session_id,
                "expires_at": expires.isoformat(),
                "purge_at": sort_key(expires),
            },
        )

    async def take(self, state: str, now: datetime) -> PendingLogin | None:
        """The pending login for this state, removed so that it serves once."""
        if not state:
            return None
        doc = await self.store.get(PENDING_LOGINS, _digest(state))
        if doc is None:
            return None
        try:
            if not await self.store.delete(
                PENDING_LOGINS, doc["_id"], expected_version=doc["_version"]
            ):
                return None
        except VersionConflict:
            return None
        if datetime.fromisoformat(doc["expires_at"]) <= now:
            return None
        request = AuthRequest(
            state=state,
            nonce=doc["nonce"],
            code_verifier=doc["code_verifier"],
            max_age=doc.get("max_age"),
            acr_values=tuple(doc.get("acr_values") or ()),
        )
        return PendingLogin(
            request,
            doc["next_path"],
            doc.get("step_up_level"),
            doc.get("staff_id"),
            doc.get("session_id"),
        )


class SignOffDrafts:
    """A sign-off typed but not yet signed (it waits for a step-up), keyed to the session."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def keep(
        self, session_id: str, case_id: str, fields: dict[str, Any], now: datetime
    ) -> None:
        expires = now + DRAFT_LIFETIME
        doc = {
            "_id": session_id,
            "case_id": case_id,
            "fields": {k: str(v) for k, v in fields.items()},
            "expires_at": expires.isoformat(),
            "purge_at": sort_key(expires),
        }
        existing = await self.store.get(SIGNOFF_DRAFTS, session_id)
        if existing is None:
            await self.store.insert(SIGNOFF_DRAFTS, doc)
        else:
            await self.store.replace(SIGNOFF_DRAFTS, doc, expected_version=existing["_version"])

    async def find(self, session_id: str, case_id: str, now: datetime) -> dict[str, str] | None:
        doc = await self.store.get(SIGNOFF_DRAFTS, session_id)
        if doc is None or doc.get("case_id") != case_id:
            return None
        if datetime.fromisoformat(doc["expires_at"]) <= now:
            return None
        fields = doc.get("fields")
        return dict(fields) if isinstance(fields, dict) else None

    async def move(self, old_session_id: str, new_session_id: str, now: datetime) -> None:
        doc = await self.store.get(SIGNOFF_DRAFTS, old_session_id)
        if doc is None:
            return
        await self.keep(new_session_id, doc["case_id"], doc.get("fields") or {}, now)
        await self.drop(old_session_id)

    async def drop(self, session_id: str) -> None:
        await self.store.delete(SIGNOFF_DRAFTS, session_id)


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()

"""The access log: who read which case, when, and through what, and every console
sign-in attempt. Changes are audited by the case timeline; reads and sign-ins are
recorded here, one document each."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from casework.contract import AwareDatetime
from casework.store import DocumentStore
from services.review.auth.logins import login_key

CASE_READS = "case_reads"


class CaseRead(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    staff_id: str
    via: str
    path: str
    at: AwareDatetime


class CaseReads:
    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def prepare(self) -> None:
        await self.store.ensure_index(CASE_READS, "case_id", "at")

    async def record(self, case_id: str, staff_id: str, via: str, path: str, at: datetime) -> None:
        read = CaseRead(case_id=case_id, staff_id=staff_id, via=via, path=path, at=at)
        await self.store.insert(
            CASE_READS, {"_id": uuid.uuid4().hex, **read.model_dump(mode="json")}
        )

    async def of_case(self, case_id: str, limit: int = 200) -> list[CaseRead]:
        docs = await self.store.find(
            CASE_READS, {"case_id": case_id}, order_by="at", descending=True, limit=limit
        )
        return [
            CaseRead.model_validate({k: v for k, v in d.items() if not k.startswith("_")})
            for d in docs
        ]


SIGN_INS = "sign_ins"


class SignIn(BaseModel):
    """One console sign-in attempt. The login as typed is kept only as a digest when it
    names nobody: people type passwords into the login field."""

    model_config = ConfigDict(frozen=True)

    outcome: str  # signed-in | failed | throttled
    staff_id: str | None
    login_sha256: str
    client: str | None
    at: AwareDatetime
    detail: str = ""


class SignIns:
    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def prepare(self) -> None:
        await self.store.ensure_index(SIGN_INS, "at")

    async def record(
        self,
        outcome: str,
        *,
        login: str,
        staff_id: str | None,
        client: str | None,
        at: datetime,
        detail: str = "",
    ) -> None:
        attempt = SignIn(
            outcome=outcome,
            staff_id=staff_id,
            login_sha256=hashlib.sha256(login_key(login).encode()).hexdigest(),
            client=client,
            at=at,
            detail=detail,
        )
        await self.store.insert(
            SIGN_INS, {"_id": uuid.uuid4().hex, **attempt.model_dump(mode="json")}
        )

    async def recent(self, limit: int = 200) -> list[SignIn]:
        docs = await self.store.find(SIGN_INS, order_by="at", descending=True, limit=limit)
        return [
            SignIn.model_validate({k: v for k, v in d.items() if not k.startswith("_")})
            for d in docs
        ]

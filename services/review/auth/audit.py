"""The access log: who read which case, when, and through what. Changes are audited by
the case timeline; reads are recorded here, one document per read."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from casework.contract import AwareDatetime
from casework.store import DocumentStore

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
        await self.store.ensure_index(CASE_READS, "case_id")

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

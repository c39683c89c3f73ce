"""The portal's store: its own collections, public data only.

- ``actions``: one document per action (the case id), the folded record plus the scalar
  fields the list filters on (``action_type``, ``language``, ``year``, ``quarter``) and
  orders by (``at``: when it was enforced, ISO UTC); ``listed`` once its statement is known.
- ``action_wikis``: one document per action and wiki of its scope (``*``: every wiki), with
  the same fields, for the wiki filter (``find`` matches scalars only).
- ``appeals`` and ``inquiries``: one document per case, with ``about_case_id``.

Every write folds an event into the stored record under optimistic concurrency; the fold is
order-free and idempotent (services.transparency.domain.records), so a replayed or reordered
topic leaves the same documents.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, TypeVar

from casework.contract import EventData
from casework.store import (
    Document,
    DocumentStore,
    DuplicateDocument,
    VersionConflict,
    user_fields,
)
from casework.updates import update_document
from services.transparency.domain.periods import Period, quarter_of
from services.transparency.domain.query import ActionQuery, Cursor
from services.transparency.domain.records import (
    ACTIONS,
    APPEALS,
    FOLDS,
    INQUIRIES,
    ActionRecord,
    AppealRecord,
    InquiryRecord,
    Record,
    collection_of,
    fold,
)
from services.transparency.domain.reports import ALL_WIKIS, Report, build_report

ACTION_WIKIS = "action_wikis"
COLLECTIONS = (ACTIONS, ACTION_WIKIS, APPEALS, INQUIRIES)
FILTER_FIELDS = ("action_type", "language", "year")
BATCH = 500
R = TypeVar("R", bound=Record)


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _action_fields(record: ActionRecord) -> dict[str, Any]:
    statement = record.statement
    if statement is None:
        return {"listed": False, "at": None, "wikis": []}
    return {
        "listed": True,
        "at": utc_text(statement.enforced_at),
        "action_type": statement.action_type,
        "language": statement.language,
        "year": statement.enforced_at.astimezone(UTC).year,
        "quarter": quarter_of(statement.enforced_at),
        "wikis": sorted(statement.wikis) or [ALL_WIKIS],
    }


def _inquiry_fields(record: InquiryRecord) -> dict[str, Any]:
    return {"about_case_id": record.about_case_id, "at": utc_text(record.asked_at)}


def _appeal_fields(record: AppealRecord) -> dict[str, Any]:
    return {"about_case_id": record.about_case_id}


def to_document(collection: str, record: Record) -> Document:
    fields: dict[str, Any]
    if isinstance(record, ActionRecord):
        fields = _action_fields(record)
    elif isinstance(record, InquiryRecord):
        fields = _inquiry_fields(record)
    else:
        assert isinstance(record, AppealRecord)
        fields = _appeal_fields(record)
    return {"_id": record.case_id, "record": record.model_dump(mode="json"), **fields}


def from_document(collection: str, document: Document) -> Record:
    model, _ = FOLDS[collection]
    return model.model_validate(document["record"])


def _revision_of(record: ActionRecord) -> list[Any]:
    statement = record.statement
    assert statement is not None
    return [statement.revision, utc_text(statement.published_at)]


def _newer(doc: Document) -> Callable[[Document], tuple[Document, list[Any]]]:
    """``doc`` over the stored one, unless that was written from a newer revision."""

    def change(current: Document) -> tuple[Document, list[Any]]:
        if current.get("revision", []) > doc["revision"]:
            return current, []
        return {**current, **doc}, []

    return change


class PortalStore:
    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def prepare(self) -> None:
        for field in (*FILTER_FIELDS, "listed"):
            await self.store.ensure_index(ACTIONS, field, "at")
            await self.store.ensure_index(ACTION_WIKIS, field, "at")
        await self.store.ensure_index(ACTION_WIKIS, "wiki", "at")
        await self.store.ensure_index(ACTION_WIKIS, "case_id")
        await self.store.ensure_index(APPEALS, "about_case_id")
        await self.store.ensure_index(INQUIRIES, "about_case_id")
        await self.store.ensure_index(INQUIRIES, "at")

    async def is_empty(self) -> bool:
        collections = set(await self.store.collections())
        return not collections & set(COLLECTIONS)

    async def keep(self, event: EventData) -> None:
        """The consumer's handler: ``take`` without its answer."""
        await self.take(event)

    async def take(self, event: EventData) -> Record:
        """Fold ``event`` into its record and store it (nothing written when it changes
        nothing); an action's wiki documents follow its record."""
        collection = collection_of(event)
        record = await self._change(collection, event)
        if isinstance(record, ActionRecord):
            await self._sync_wikis(record)
        return record

    async def _change(self, collection: str, event: EventData) -> Record:
        doc_id = event.event_subject()
        if await self.store.get(collection, doc_id) is None:
            first = fold(None, event)
            try:
                await self.store.insert(collection, to_document(collection, first))
                return first
            except DuplicateDocument:
                pass  # another instance stored the first one: fold into what it wrote

        def apply(document: Document) -> tuple[Document, list[Any]]:
            folded = fold(from_document(collection, document), event)
            return {**document, **user_fields(to_document(collection, folded))}, []

        stored = await update_document(self.store, collection, doc_id, apply)
        return from_document(collection, stored)

    async def _sync_wikis(self, record: ActionRecord) -> None:
        """One document per wiki of the newest revision's scope. Each carries the revision
        it was written from, and an older revision never replaces or removes a newer one's
        (two instances may sync one action at once); reads check the scope again."""
        fields = _action_fields(record)
        if not fields["listed"]:
            return
        key = _revision_of(record)
        wanted = {f"{record.case_id}|{wiki}": wiki for wiki in fields["wikis"]}
        for old in await self.store.find(ACTION_WIKIS, {"case_id": record.case_id}):
            if old["_id"] not in wanted and old.get("revision", []) < key:
                with suppress(VersionConflict):
                    await self.store.delete(
                        ACTION_WIKIS, old["_id"], expected_version=old["_version"]
                    )
        for doc_id, wiki in wanted.items():
            doc = {"_id": doc_id, "case_id": record.case_id, "wiki": wiki, "revision": key}
            doc.update(fields)
            if await self.store.get(ACTION_WIKIS, doc_id) is None:
                with suppress(DuplicateDocument):  # else another instance's: change it
                    await self.store.insert(ACTION_WIKIS, doc)
                    continue
            await update_document(self.store, ACTION_WIKIS, doc_id, _newer(doc))

    # -- reading -----------------------------------------------------------------------

    async def action(self, case_id: str) -> ActionRecord | None:
        document = await self.store.get(ACTIONS, case_id)
        if document is None:
            return None
        record = from_document(ACTIONS, document)
        assert isinstance(record, ActionRecord)
        return record

    async def actions(
        self, query: ActionQuery, limit: int
    ) -> tuple[list[ActionRecord], Cursor | None]:
        """One page of listed actions, newest first, and the cursor of the next page."""
        where: dict[str, Any] = {"listed": True}
        where.update(
            {
                k: v
                for k, v in (
                    ("action_type", query.type),
                    ("language", query.language),
                    ("year", query.year),
                )
                if v is not None
            }
        )
        collection = ACTIONS
        if query.wiki is not None:
            collection, where["wiki"] = ACTION_WIKIS, query.wiki
        after = (query.after.at, query.after.doc_id) if query.after else None
        found = await self.store.find(
            collection, where, order_by="at", descending=True, limit=limit + 1, after=after
        )
        page = found[:limit]
        records = []
        for document in page:
            record = (
                await self.action(document["case_id"])
                if query.wiki
                else from_document(ACTIONS, document)
            )
            if query.wiki and isinstance(record, ActionRecord):
                # A wiki document a concurrent older revision left behind: not listed.
                if query.wiki not in _action_fields(record)["wikis"]:
                    continue
            if isinstance(record, ActionRecord):
                records.append(record)
        more = len(found) > limit
        cursor = Cursor(page[-1]["at"], page[-1]["_id"]) if more and page else None
        return records, cursor

    async def inquiry(self, case_id: str) -> InquiryRecord | None:
        document = await self.store.get(INQUIRIES, case_id)
        if document is None:
            return None
        record = from_document(INQUIRIES, document)
        assert isinstance(record, InquiryRecord)
        return record

    async def inquiries(
        self, after: Cursor | None, limit: int
    ) -> tuple[list[InquiryRecord], Cursor | None]:
        bound = (after.at, after.doc_id) if after else None
        found = await self.store.find(
            INQUIRIES, order_by="at", descending=True, limit=limit + 1, after=bound
        )
        page = found[:limit]
        records = [
            r for r in (from_document(INQUIRIES, d) for d in page) if isinstance(r, InquiryRecord)
        ]
        cursor = Cursor(page[-1]["at"], page[-1]["_id"]) if len(found) > limit and page else None
        return records, cursor

    async def about(self, case_id: str) -> tuple[list[AppealRecord], list[InquiryRecord]]:
        appeals = [
            r
            for d in await self.store.find(APPEALS, {"about_case_id": case_id})
            if isinstance(r := from_document(APPEALS, d), AppealRecord)
        ]
        inquiries = [
            r
            for d in await self.store.find(INQUIRIES, {"about_case_id": case_id}, order_by="at")
            if isinstance(r := from_document(INQUIRIES, d), InquiryRecord)
        ]
        return appeals, inquiries

    async def report(self, period: Period, language: str = "en") -> Report:
        """A period's report from every record (each is dated by the report itself)."""
        return build_report(
            period,
            [r async for r in self.every(ACTIONS, ActionRecord)],
            [r async for r in self.every(APPEALS, AppealRecord)],
            [r async for r in self.every(INQUIRIES, InquiryRecord)],
            language,
        )

    async def every(self, collection: str, model: type[R]) -> AsyncIterator[R]:
        """Every record of a collection, in batches (for reports and the feed)."""
        after: tuple[str, str] | None = None
        while True:
            batch = await self.store.find(collection, order_by="_id", limit=BATCH, after=after)
            for document in batch:
                record = from_document(collection, document)
                if isinstance(record, model):
                    yield record
            if len(batch) < BATCH:
                return
            last = batch[-1]["_id"]
            after = (last, last)

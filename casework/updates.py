"""Read-modify-write of one document under optimistic concurrency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from casework.store import Document, DocumentStore, OutboxMessage, VersionConflict, user_fields

Change = tuple[Document, Sequence[OutboxMessage]]


class NotFound(LookupError):
    pass


async def update_document(
    store: DocumentStore,
    collection: str,
    doc_id: str,
    change: Callable[[Document], Change | Awaitable[Change]],
    *,
    attempts: int = 5,
) -> Document:
    """Apply ``change`` to the current document and store it with its outbox messages.

    On a concurrent write the change is applied again to the newer document, so
    ``change`` must be a pure function of the document it receives. A change that leaves
    the document as it was and has no outbox messages writes nothing.
    """
    for attempt in range(attempts):
        current = await store.get(collection, doc_id)
        if current is None:
            raise NotFound(f"{collection}/{doc_id}")
        result = change(current)
        updated, outbox = result if isinstance(result, tuple) else await result
        if not outbox and user_fields(updated) == user_fields(current):
            return current
        try:
            return await store.replace(
                collection, updated, expected_version=current["_version"], outbox=outbox
            )
        except VersionConflict:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")

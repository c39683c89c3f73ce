"""A submission's store work: reads together, one counter write per window shared by the
submissions arriving with it, one insert that also settles a repeated idempotency key.

Real parts: a SQLite store file (counted by a thin wrapper), two intake instances on it
where it matters. No broker: the relay is never run here, only woken.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from casework.cloudevents import CloudEvent
from casework.contract import Channel, SubmissionKind
from casework.counters import WindowCounters, window_of
from casework.errors import Rejected
from casework.outbox import OutboxRelay
from casework.policy import load_policy
from casework.store import Document, DocumentStore, OutboxMessage, open_store
from services.intake.adapters.rate_limits import COUNTERS
from services.intake.domain.forms import FORMS
from services.intake.domain.rules import Rules
from services.intake.domain.submission import fingerprint
from services.intake.policy import rules_of
from services.intake.usecases import IDEMPOTENCY, SUBMISSIONS, RateLimited, Submissions
from services.intake.usecases.base import _claim_id, _scope
from tests.test_intake_api import EXAMPLES, POLICY_FILE

NOW = datetime(2026, 11, 21, 12, 0, 30, tzinfo=UTC)
KIND = SubmissionKind.REQUEST
OTHER_SUMMARY = "Another account harassing several editors across wikis after local blocks."


class CountingStore:
    """The real store, with every call it is asked counted by name (and writes by collection)."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()

    def reset(self) -> None:
        self.calls.clear()
        self.writes.clear()

    async def get(self, collection: str, doc_id: str) -> Document | None:
        self.calls["get"] += 1
        return await self.inner.get(collection, doc_id)

    async def find(self, collection: str, *args: Any, **kwargs: Any) -> list[Document]:
        self.calls["find"] += 1
        return await self.inner.find(collection, *args, **kwargs)

    async def insert(
        self, collection: str, doc: Document, outbox: Sequence[OutboxMessage] = ()
    ) -> Document:
        self.calls["insert"] += 1
        self.writes[collection] += 1
        return await self.inner.insert(collection, doc, outbox)

    async def replace(
        self,
        collection: str,
        doc: Document,
        *,
        expected_version: int,
        outbox: Sequence[OutboxMessage] = (),
    ) -> Document:
        self.calls["replace"] += 1
        self.writes[collection] += 1
        return await self.inner.replace(
            collection, doc, expected_version=expected_version, outbox=outbox
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class BurstStore(CountingStore):
    """Holds the writes of the ``shared`` counter until ``senders`` senders' own counters
    have been written. Each submission takes its sender's and the shared counter's place
    together, so by then every submission of the burst is queued on the shared counter,
    however fast the store is: the grouping is tested, not the timing."""

    def __init__(self, inner: DocumentStore, *, shared: str, senders: int) -> None:
        super().__init__(inner)
        self.shared = shared
        self.senders = senders
        self.others = 0
        self.shared_writes = 0  # tries included: a version conflict is a write too
        self.queued = asyncio.Event()

    async def _hold(self, collection: str, doc: Document) -> None:
        if collection != COUNTERS:
            return
        if doc["_id"] != self.shared:
            self.others += 1
            if self.others >= self.senders:
                self.queued.set()
            return
        await asyncio.wait_for(self.queued.wait(), timeout=30)
        self.shared_writes += 1

    async def insert(
        self, collection: str, doc: Document, outbox: Sequence[OutboxMessage] = ()
    ) -> Document:
        await self._hold(collection, doc)
        return await super().insert(collection, doc, outbox)

    async def replace(
        self,
        collection: str,
        doc: Document,
        *,
        expected_version: int,
        outbox: Sequence[OutboxMessage] = (),
    ) -> Document:
        await self._hold(collection, doc)
        return await super().replace(
            collection, doc, expected_version=expected_version, outbox=outbox
        )


async def _never_publish(_topic: str, _event: CloudEvent) -> None:
    raise AssertionError("the relay is not run in these tests")


def rules(tmp_path: Path, per_sender: int = 60, per_client: int = 600) -> Rules:
    raw = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    limits = raw["intake"]["rate_limits"]
    limits["per_sender"] = {"max": per_sender, "per_seconds": 3600}
    limits["per_client"] = {"max": per_client, "per_seconds": 3600}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    policy = load_policy(path)
    return Rules(policy, rules_of(policy), frozenset({"127.0.0.1"}))


async def instance(store: DocumentStore, rules: Rules) -> Submissions:
    relay = OutboxRelay(store, _never_publish)
    subs = Submissions(store, relay, rules, clock=lambda: NOW)
    await subs.prepare()
    return subs


def body(n: int, summary: str = "") -> dict[str, Any]:
    example = dict(EXAMPLES[KIND])
    example["requester"] = {**example["requester"], "email": f"sender{n}@example.org"}
    if summary:
        example["summary"] = summary
    return example


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[DocumentStore]:
    opened = await open_store(f"sqlite:///{tmp_path / 'intake.sqlite3'}")
    yield opened
    await opened.close()


async def test_a_keyed_submission_is_one_insert_and_a_counter_write_per_window(
    sqlite: DocumentStore, tmp_path: Path
) -> None:
    store = CountingStore(sqlite)
    subs = await instance(cast(DocumentStore, store), rules(tmp_path))
    await subs.submit(KIND, body(0), channel=Channel.API, idempotency_key="warm", client="c0")
    store.reset()

    first = await subs.submit(KIND, body(1), channel=Channel.API, idempotency_key="k1", client="c0")
    assert not first.replayed
    # One insert of the submission; the sender's new counter (tried as new: no read) and
    # the client's counter (known: its version is reused, no read) one write each.
    assert store.writes == {SUBMISSIONS: 1, COUNTERS: 2}, store.writes
    assert store.calls == {"get": 1, "find": 1, "insert": 2, "replace": 1}, store.calls

    store.reset()
    again = await subs.submit(KIND, body(1), channel=Channel.API, idempotency_key="k1", client="c0")
    assert (again.reference, again.replayed) == (first.reference, True)
    assert store.writes == {}, "a replay writes nothing and counts nothing"
    assert await WindowCounters(sqlite, COUNTERS).value(_client_window("c0")) == 2

    with pytest.raises(Rejected) as refused:
        await subs.submit(
            KIND, body(1, OTHER_SUMMARY), channel=Channel.API, idempotency_key="k1", client="c0"
        )
    assert refused.value.errors[0].rule == "same_body"


def _client_window(client: str, max: int = 600) -> Any:
    return window_of("client", client, max=max, per_seconds=3600, now=NOW)


async def test_a_burst_from_one_client_shares_its_counter_writes_and_stops_at_the_limit(
    sqlite: DocumentStore, tmp_path: Path
) -> None:
    store = BurstStore(sqlite, shared=_client_window("proxy", 25).doc_id, senders=40)
    limits = rules(tmp_path, per_client=25)
    counted = cast(DocumentStore, store)
    first, second = await instance(counted, limits), await instance(counted, limits)

    async def one(subs: Submissions, n: int) -> str | None:
        try:
            accepted = await subs.submit(
                KIND, body(n), channel=Channel.API, idempotency_key=f"b{n}", client="proxy"
            )
        except RateLimited as exc:
            assert exc.scope == "client"
            return None
        return accepted.reference

    results = await asyncio.gather(*(one((first, second)[n % 2], n) for n in range(40)))
    accepted = [r for r in results if r is not None]
    # Exactly the limit, across two instances racing on one counter: none over, none lost.
    assert len(accepted) == 25 == len(set(accepted))
    assert len(await sqlite.find(SUBMISSIONS)) == 25
    assert await WindowCounters(sqlite, COUNTERS).value(_client_window("proxy", 25)) == 25
    writes = store.shared_writes
    print(f"shared client counter: {writes} writes for 40 submissions")
    # Each instance writes its queued takers in at most two groups (the leader's, and those
    # that joined after it started): at most four successful writes, each costing the other
    # instance at most one version-conflict retry. A write per submission would be 25 or more.
    assert 1 <= writes <= 8, f"{writes} writes of the shared client counter"


async def test_a_submission_refused_by_one_limit_is_not_counted_by_the_other(
    sqlite: DocumentStore, tmp_path: Path
) -> None:
    subs = await instance(sqlite, rules(tmp_path, per_client=1))
    outcomes = await asyncio.gather(
        *(
            subs.submit(KIND, body(n), channel=Channel.API, idempotency_key=None, client="one")
            for n in range(2)
        ),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Accepted", "RateLimited"]
    counters = WindowCounters(sqlite, COUNTERS)
    senders = [
        await counters.value(
            window_of("sender", f"sender{n}@example.org", max=60, per_seconds=3600, now=NOW)
        )
        for n in range(2)
    ]
    assert sorted(senders) == [0, 1], senders
    assert await counters.value(_client_window("one", 1)) == 1


async def test_twins_on_two_instances_get_one_reference(
    sqlite: DocumentStore, tmp_path: Path
) -> None:
    limits = rules(tmp_path)
    first, second = await instance(sqlite, limits), await instance(sqlite, limits)
    answers = await asyncio.gather(
        *(
            subs.submit(KIND, body(7), channel=Channel.API, idempotency_key="twin", client="c")
            for subs in (first, second, first, second)
        )
    )
    assert len({a.reference for a in answers}) == 1
    assert sorted(a.replayed for a in answers) == [False, True, True, True]
    assert [d["_id"] for d in await sqlite.find(SUBMISSIONS)] == [answers[0].reference]


async def test_references_from_keys_are_per_store_not_guessable_from_the_key(
    tmp_path: Path,
) -> None:
    limits = rules(tmp_path)
    references = []
    for name in ("one", "two"):
        store = await open_store(f"sqlite:///{tmp_path / name}.sqlite3")
        try:
            subs = await instance(store, limits)
            accepted = await subs.submit(
                KIND, body(1), channel=Channel.API, idempotency_key="same", client="c"
            )
            references.append(accepted.reference)
        finally:
            await store.close()
    assert references[0] != references[1]


async def test_keys_claimed_by_the_earlier_intake_still_answer_their_reference(
    sqlite: DocumentStore, tmp_path: Path
) -> None:
    """Stored as the intake before this one did: a record per key, a random reference."""
    limits = rules(tmp_path)
    form = FORMS[KIND].model_validate(body(3), context=_context(limits))
    claim = _claim_id("submission", _scope(Channel.API, None, "c"), "old-key")
    await sqlite.insert(
        IDEMPOTENCY,
        {"_id": claim, "reference": "R-OLDOLDOLDOLD", "fingerprint": fingerprint(form), "at": ""},
    )
    subs = await instance(sqlite, limits)
    # Claimed, then not stored (the old intake crashed): finished under the claimed reference.
    accepted = await subs.submit(
        KIND, body(3), channel=Channel.API, idempotency_key="old-key", client="c"
    )
    assert (accepted.reference, accepted.replayed) == ("R-OLDOLDOLDOLD", False)
    again = await subs.submit(
        KIND, body(3), channel=Channel.API, idempotency_key="old-key", client="c"
    )
    assert (again.reference, again.replayed) == ("R-OLDOLDOLDOLD", True)
    with pytest.raises(Rejected):
        await subs.submit(
            KIND,
            body(3, OTHER_SUMMARY),
            channel=Channel.API,
            idempotency_key="old-key",
            client="c",
        )
    assert [d["_id"] for d in await sqlite.find(SUBMISSIONS)] == ["R-OLDOLDOLDOLD"]


def _context(limits: Rules) -> Mapping[str, Any]:
    return {
        "summary_bounds": {
            kind: (bounds.summary.min_chars, bounds.summary.max_chars)
            for kind, bounds in limits.intake.kinds.items()
        }
    }

"""Review's app in this process, over real HTTP and a real SQLite store, for the staff
access tests: built by the service's own `wire`, so every route and middleware is the
real one. The event publisher is never started (these tests publish nothing); the
tests that need events run the whole stack instead (test_review_console.py).

The staff directory lives in the store; the copy of the demo staff file seeds it. Two
instances share one store by passing the same ``store_path`` (scale-out)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from casework.contract import (
    Channel,
    EvidenceItem,
    EvidenceLocation,
    Requester,
    Subject,
    SubmissionKind,
    SubmissionReceived,
    to_cloudevent,
)
from casework.kafka import EventPublisher
from casework.outbox import OutboxRelay
from casework.policy import Policy, load_policy
from casework.runtime import Kit, Wiring
from casework.store import DocumentStore, open_store
from services.review.app import wire
from services.review.auth.directory import STAFF
from services.review.settings import ReviewSettings
from tests.fixtures.keys import install_keys
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
DEMO_STAFF = ROOT / "deploy" / "demo-staff.yaml"
ROLES_TO_STAFF = {
    "triage": "tess",
    "handler": "alice",
    "manager": "bob",
    "legal": "carol",
    "director": "dave",
    "auditor": "otto",
    "admin": "adam",
    "ops": "olga",
}


@dataclass
class Review:
    url: str
    store: DocumentStore
    wiring: Wiring
    staff_file: Path
    store_url: str

    def app(self) -> web.Application:
        return self.wiring.app


@asynccontextmanager
async def review_in_process(
    tmp_path: Path,
    *,
    store_url: str | None = None,
    staff_refresh_seconds: float = 1.0,
    port: int | None = None,
    settings: dict[str, Any] | None = None,
    policy: Policy = POLICY,
) -> AsyncIterator[Review]:
    """Review on ``port`` (default: a free one), with ``settings`` added (by their
    environment names, e.g. the REVIEW_OIDC_* of an identity provider)."""
    staff_file = tmp_path / "staff.yaml"
    if not staff_file.exists():
        shutil.copy(DEMO_STAFF, staff_file)
    install_keys(tmp_path)
    review_settings = ReviewSettings(
        CASEWORK_DATA_DIR=tmp_path,
        REVIEW_STAFF_FILE=staff_file,
        REVIEW_STAFF_REFRESH_SECONDS=staff_refresh_seconds,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        **(settings or {}),
    )
    store_url = store_url or f"sqlite:///{tmp_path / 'review.sqlite3'}"
    store = await open_store(store_url)
    publisher = EventPublisher(review_settings.kafka())
    kit = Kit(
        settings=review_settings,
        policy=policy,
        store=store,
        publisher=publisher,
        relay=OutboxRelay(store, publisher.publish),
        registry=CollectorRegistry(),
        health_checks={"store": store.ping},
    )
    wiring = await wire(kit)
    server = TestServer(wiring.app, host="127.0.0.1", port=port or free_port())
    await server.start_server()
    try:
        yield Review(f"http://127.0.0.1:{server.port}", store, wiring, staff_file, store_url)
    finally:
        await server.close()
        await store.close()


async def stored_staff(review: Review) -> list[dict[str, Any]]:
    """The staff documents as stored, versions included (to show nothing changed)."""
    return await review.store.find(STAFF, order_by="_id")


def submission(
    submission_id: str = "R-ABCDEFGH2345", named_staff: list[str] | None = None
) -> SubmissionReceived:
    kind = SubmissionKind.ABUSE_REPORT if named_staff else SubmissionKind.REQUEST
    return SubmissionReceived(
        submission_id=submission_id,
        kind=kind,
        channel=Channel.FORM,
        action_type="global-ban",
        routed_to=POLICY.action("global-ban").routed_to,
        summary="Cross-wiki harassment of several editors after local blocks failed.",
        subject=Subject(account="Troublesome Editor"),
        evidence=[
            EvidenceItem(
                url="https://en.example.org/wiki/Special:Diff/1",
                description="Threat on a talk page",
                where=EvidenceLocation.ON_WIKI_PUBLIC,
            )
        ],
        prior_attempts=["https://en.example.org/wiki/ANI"],
        requester=Requester(name="Reporter Person", email="reporter@example.org"),
        received_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        named_staff=named_staff or [],
    )


async def receive(review: Review, received: SubmissionReceived) -> None:
    """Deliver a submission the way the consumer does: through the service's handler."""
    assert review.wiring.handle is not None
    await review.wiring.handle(to_cloudevent(received))

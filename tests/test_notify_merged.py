"""Every complainant of a case hears its outcome (issue 18 §2): a requester whose duplicate
request was merged into a case gets the outcome under their own reference, in their own
language and thread, and nothing of the other requester. Over the real SMTP sink, the
sandbox wiki and SQLite, through notify's consumer handler."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from casework.contract import (
    CaseOpened,
    DecisionDeclined,
    DuplicateMerged,
    SubmissionReceived,
)
from casework.mediawiki import MediaWikiClient
from casework.store import DocumentStore
from tests.fixtures.keys import signed
from tests.test_notify_delivery import (  # noqa: F401 (fixtures)
    NOW,
    Inbox,
    Service,
    approved_event,
    inbox,
    notifier,
    store,
    text_of,
    wiki,
)

FIRST = {"name": "Olga Original", "email": "olga@example.org", "language": "en"}
SECOND = {"name": "Dmitri Duplicate", "email": "dmitri@example.org", "language": "ru"}


async def submitted(service: Service, reference: str, requester: dict[str, Any]) -> str:
    case_id = "OA-" + reference.removeprefix("R-")
    received = SubmissionReceived.model_validate(
        {
            "submission_id": reference,
            "kind": "request",
            "channel": "form",
            "action_type": "global-ban",
            "routed_to": "support-and-safety",
            "summary": "harassment",
            "requester": requester,
            "received_at": NOW.isoformat(),
        }
    )
    await service.handle(signed(received))
    opened = CaseOpened(
        case_id=case_id,
        submission_id=reference,
        action_type="global-ban",
        routed_to="support-and-safety",
        opened_at=NOW,
        deadline_at=None,
    )
    await service.handle(signed(opened))
    return case_id


def merge(original: str, duplicate: str) -> Any:
    return signed(
        DuplicateMerged(
            case_id=original,
            duplicate_case_id=duplicate,
            duplicate_submission_id="R-" + duplicate.removeprefix("OA-"),
            merged_by="alice",
            merged_at=NOW + timedelta(hours=1),
        )
    )


def outcome_of(box: Inbox, address: str) -> Any:
    ack, outcome = box.to(address)  # the acknowledgement, then exactly one outcome
    assert outcome["In-Reply-To"] == ack["Message-ID"]
    return outcome


async def test_a_merged_complainant_hears_the_approval_in_their_own_thread(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    service = notifier(store, wiki, port)
    original = await submitted(service, "R-MERGEA1", FIRST)
    duplicate = await submitted(service, "R-MERGEA2", SECOND)
    await service.handle(merge(original, duplicate))
    await service.handle(merge(original, duplicate))  # redelivered
    await service.handle(approved_event(original))
    await service.handle(approved_event(original))  # redelivered: still one each
    first = text_of(outcome_of(box, FIRST["email"]))
    second_mail = outcome_of(box, SECOND["email"])
    second = text_of(second_mail)
    assert "R-MERGEA1" in first and "R-MERGEA2" in second
    assert "R-MERGEA1" not in second and FIRST["name"] not in second
    assert FIRST["email"] not in second and SECOND["name"] in second
    assert second_mail["Content-Language"] == "ru"


async def test_a_complainant_merged_after_the_decision_is_told_at_once(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    service = notifier(store, wiki, port)
    original = await submitted(service, "R-MERGEB1", FIRST)
    duplicate = await submitted(service, "R-MERGEB2", SECOND)
    await service.handle(approved_event(original))
    assert len(box.to(SECOND["email"])) == 1  # the acknowledgement only
    await service.handle(merge(original, duplicate))
    assert "R-MERGEB2" in text_of(outcome_of(box, SECOND["email"]))


async def test_a_merged_complainant_hears_a_decline_too(
    store: DocumentStore, wiki: MediaWikiClient, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    service = notifier(store, wiki, port)
    original = await submitted(service, "R-MERGEC1", FIRST)
    duplicate = await submitted(service, "R-MERGEC2", SECOND)
    await service.handle(merge(original, duplicate))
    declined = DecisionDeclined(
        case_id=original,
        level="ts-manager",
        staff_id="bob",
        comment="SECRET staff reasoning",
        declined_at=NOW + timedelta(hours=2),
    )
    await service.handle(signed(declined))
    for requester, reference in ((FIRST, "R-MERGEC1"), (SECOND, "R-MERGEC2")):
        body = text_of(outcome_of(box, requester["email"]))
        assert reference in body and "SECRET" not in body

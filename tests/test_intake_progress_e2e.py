"""A requester follows their case from submission to enforcement on the real stack: intake's
status and tracking page follow review's CaseProgressed reports.

Real parts: every service as its own process (`python -m services.<name>`), the Tansu
broker, the sandbox MediaWiki and the SMTP sink (tests/fixtures/stack.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from services.review.domain.opening import case_id_for
from tests.fixtures.stack import Stack
from tests.support import eventually
from tests.test_end_to_end import REQUESTER, approve, case_opened, submit

pytestmark = pytest.mark.e2e

ACCOUNT = "Vandal1"  # a sandbox account (deploy/sandbox_wiki.py); the stack is this module's


async def status_of(http: aiohttp.ClientSession, stack: Stack, reference: str) -> Any:
    async with http.get(f"{stack.url('intake')}/api/v1/submissions/{reference}") as reply:
        assert reply.status == 200, await reply.text()
        return await reply.json()


def reaches(http: aiohttp.ClientSession, stack: Stack, reference: str, *stages: str) -> Any:
    async def probe() -> Any:
        found = await status_of(http, stack, reference)
        return found if found["status"] in stages else None

    return probe


async def test_the_requester_sees_review_then_the_decision_and_its_appeal_window(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    reference = await submit(http, stack, ACCOUNT)
    reviewing = await eventually(
        reaches(http, stack, reference, "under-review"), what=f"{reference} under review"
    )
    assert reviewing["appeal_open_until"] is None
    assert [h["status"] for h in reviewing["history"]] == ["received", "under-review"]

    case_id = case_id_for(reference)
    await case_opened(http, stack, case_id)
    approved_at = datetime.now(UTC)
    await approve(http, stack, case_id, ACCOUNT)
    enforced = await eventually(
        reaches(http, stack, reference, "enforced"), what=f"{reference} enforced", timeout=60
    )
    stages = [h["status"] for h in enforced["history"]]
    assert stages[:2] == ["received", "under-review"] and stages[-1] == "enforced"
    assert set(stages) <= {"received", "under-review", "approved", "enforced"}
    # A global ban may be appealed for 365 days from the decision.
    until = datetime.fromisoformat(enforced["appeal_open_until"])
    assert approved_at + timedelta(days=364) < until < approved_at + timedelta(days=366)

    page = f"{stack.url('intake')}/submissions/{reference}"
    for language, stage, appeal in (
        ("en", "Decided — action carried out", "You may appeal until"),
        ("ru", "Решено — действие выполнено", "Обжаловать решение можно до"),
    ):
        async with http.get(page, params={"lang": language}) as reply:
            assert reply.status == 200
            html = await reply.text()
        words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
        assert stage in words and appeal in words and until.strftime("%Y-%m-%d") in words
        # Nothing private: no requester, no case content, no staff.
        for private in (REQUESTER["email"], REQUESTER["name"], "SECRET", "alice", "harass"):
            assert private not in html and private not in str(enforced)

"""The console's queue: filters, urgency order, and at-risk/breached highlighting, over
review's app in this process (real HTTP, real SQLite; test_review_auth_support.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from services.review.domain.opening import case_id_for
from tests.test_review_auth_support import (
    POLICY,
    Review,
    receive,
    review_in_process,
    submission,
)

ROW = re.compile(r'<tr class="([a-z-]*)" data-case="([A-Z0-9-]+)">')
NOW = datetime.now(UTC)
# Global ban: 28 days, at risk in the last quarter (policy review.at_risk).
CASES = {
    "R-BREACHED2222": ("global-ban", NOW - timedelta(days=40)),
    "R-ATRISK222222": ("global-ban", NOW - timedelta(days=22)),
    "R-FRESH2222222": ("global-ban", NOW - timedelta(hours=1)),
    "R-EVENTBAN2222": ("event-ban", NOW - timedelta(hours=2)),
}


@pytest.fixture(scope="module")
async def review(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Review]:
    async with review_in_process(tmp_path_factory.mktemp("queue")) as running:
        for submission_id, (action, received_at) in CASES.items():
            made = submission(submission_id).model_copy(
                update={
                    "action_type": action,
                    "routed_to": POLICY.action(action).routed_to,
                    "received_at": received_at,
                }
            )
            await receive(running, made)
        yield running


async def queue(review: Review, query: str = "", lang: str = "en") -> tuple[int, str]:
    headers = {"Authorization": "Bearer demo-otto-token", "Accept-Language": lang}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{review.url}/console{query}", headers=headers) as reply:
            return reply.status, await reply.text()


def rows(page: str) -> list[tuple[str, str]]:
    return [(case_id, mark) for mark, case_id in ROW.findall(page)]


async def test_the_queue_is_sorted_by_urgency_and_marks_deadlines(review: Review) -> None:
    status, page = await queue(review)
    assert status == 200
    assert rows(page) == [
        (case_id_for("R-BREACHED2222"), "breached"),
        (case_id_for("R-ATRISK222222"), "at-risk"),
        (case_id_for("R-EVENTBAN2222"), ""),  # due an hour before the fresh one
        (case_id_for("R-FRESH2222222"), ""),
    ]
    assert 'class="badge breached">breached' in page


async def test_the_queue_filters_by_deadline_action_type_and_state(review: Review) -> None:
    _, page = await queue(review, "?deadline=breached")
    assert [c for c, _ in rows(page)] == [case_id_for("R-BREACHED2222")]
    _, page = await queue(review, "?deadline=at-risk")
    assert [c for c, _ in rows(page)] == [
        case_id_for(s) for s in ("R-BREACHED2222", "R-ATRISK222222")
    ]
    _, page = await queue(review, "?action_type=event-ban")
    assert [c for c, _ in rows(page)] == [case_id_for("R-EVENTBAN2222")]
    _, page = await queue(review, "?state=approved")
    assert rows(page) == [] and "No case matches." in page
    _, page = await queue(review, "?language=en&assignee=alice")
    assert rows(page) == []


async def test_a_bad_filter_is_named_and_shows_nothing(review: Review) -> None:
    status, page = await queue(review, "?state=sleeping")
    assert status == 422
    assert "<code>state</code>" in page and rows(page) == []


async def test_the_queue_pages_with_a_cursor(review: Review) -> None:
    _, page = await queue(review, "?limit=2")
    assert len(rows(page)) == 2
    link = re.search(r'<a href="(/console\?[^"]+)">Next page', page)
    assert link is not None
    _, second = await queue(review, link.group(1).removeprefix("/console").replace("&amp;", "&"))
    assert [c for c, _ in rows(second)] == [
        case_id_for(s) for s in ("R-EVENTBAN2222", "R-FRESH2222222")
    ]


async def test_the_queue_in_russian(review: Review) -> None:
    _, page = await queue(review, lang="ru-RU,ru;q=0.9")
    assert "Очередь дел" in page and 'lang="ru"' in page
    assert "просрочен" in page
    # The policy's own words too (issue 18 §3): the action types by their Russian titles.
    russian = POLICY.text("ru", "action_types", "global-ban")
    assert f'<option value="global-ban">{russian}</option>' in page
    assert ">Global ban<" not in page

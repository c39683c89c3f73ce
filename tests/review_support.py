"""The ``review`` fixtures the review test modules share: review in this process
(tests/test_review_auth_support.py), fresh for each test or one per module, empty or with
one case opened from ``submission()``. A module imports the one it wants; each is named
``review`` for its tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.test_review_auth_support import Review, receive, review_in_process, submission


@pytest.fixture(name="review")
async def fresh_review(tmp_path: Path) -> AsyncIterator[Review]:
    async with review_in_process(tmp_path) as running:
        yield running


@pytest.fixture(name="review")
async def fresh_review_with_a_case(tmp_path: Path) -> AsyncIterator[Review]:
    async with review_in_process(tmp_path) as running:
        await receive(running, submission())
        yield running


@pytest.fixture(name="review", scope="module")
async def module_review(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Review]:
    async with review_in_process(tmp_path_factory.mktemp("review")) as running:
        yield running


@pytest.fixture(name="review", scope="module")
async def module_review_with_a_case(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Review]:
    async with review_in_process(tmp_path_factory.mktemp("review")) as running:
        await receive(running, submission())
        yield running

"""The public log's pages: which page is which, and when one is full."""

from __future__ import annotations

import pytest

from services.notify.domain.log_pages import (
    MIN_PAGE_BYTES,
    continuation_summary,
    continued_at,
    is_full,
    page_intro,
    page_title,
)


def test_pages_are_the_first_then_its_numbered_subpages() -> None:
    assert page_title("Office actions log", 1) == "Office actions log"
    assert page_title("Office actions log", 2) == "Office actions log/2"
    assert page_title("Office actions log", 12) == "Office actions log/12"
    with pytest.raises(ValueError, match="numbered from 1"):
        page_title("Office actions log", 0)


@pytest.mark.parametrize(
    ("length", "adding", "full"),
    [
        (0, 500, False),  # a new page
        (9_000, 500, False),  # fits
        (9_500, 500, False),  # exactly at the limit
        (9_501, 500, True),  # one byte over
        (4_000, 50_000, False),  # under half: takes even a statement longer than the limit
        (5_001, 50_000, True),
    ],
)
def test_a_page_is_full_when_the_statement_would_take_it_past_the_limit(
    length: int, adding: int, full: bool
) -> None:
    assert is_full(length, adding, 10_000) is full


def test_the_links_between_pages_name_them() -> None:
    assert "[[Office actions log/3]]" in continued_at("Office actions log/3")
    assert "[[Office actions log/2]]" in page_intro("Office actions log/2")
    assert continuation_summary("Office actions log/3").endswith("Office actions log/3")
    assert MIN_PAGE_BYTES > 2 * 3_000  # several statements a page at the smallest setting

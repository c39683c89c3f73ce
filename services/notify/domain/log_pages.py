"""The public log as a run of pages. The first is the configured page; each later one is
its numbered subpage ("Office actions log/2", "/3", ...). A page takes statements until the
next would take it past the size limit; the log then goes on on the next page, linked from
the full page and from the first one. Every append re-renders the whole page, and a wiki
refuses pages over its own limit (MediaWiki: 2 MB), so a single page would slow down with
every action and, in the end, take none."""

from __future__ import annotations

INTRO = (
    "Public statements of the operator's office actions, one per action, written by the "
    "role account only.\n"
)
# Below MediaWiki's default $wgMaxArticleSize (2,048 KiB), with room for a statement.
MAX_PAGE_BYTES = 1_900_000
MIN_PAGE_BYTES = 10_000


def page_title(first: str, number: int) -> str:
    """The log's page ``number`` (counted from 1, the configured page itself)."""
    if number < 1:
        raise ValueError("log pages are numbered from 1")
    return first if number == 1 else f"{first}/{number}"


def is_full(length: int, adding: int, limit: int) -> bool:
    """Whether a page of ``length`` bytes cannot take ``adding`` more. A page under half the
    limit takes any statement, however long: one longer than the limit still finds a page,
    and a new page is never passed over."""
    return length + adding > limit and length > limit // 2


def page_intro(previous: str) -> str:
    """The text a continuation page starts with."""
    return f"{INTRO}\n''Continued from [[{previous}]].''\n"


def continued_at(following: str) -> str:
    """The line a full page (and the first page) ends with."""
    return f"\n\n''The log continues at [[{following}]].''"


def continuation_summary(following: str) -> str:
    """The edit summary of that line: the role account's edit with it is the line, once."""
    return f"Office actions log continues at {following}"

"""The reasons enforcement gives in the wiki's logs, in the community's language (issue 18 §3):
English cases read exactly as before; another language comes first, English after it; the
wording files are checked complete when enforcement starts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.enforcement.adapters import notices
from services.enforcement.domain import Ending, PriorBlock
from services.enforcement.domain.log_reasons import (
    ENGLISH,
    Lifting,
    action_reason,
    restored_marker,
    undo_reason,
)
from tests.test_enforcement import approval

CASE = "OA-ABCDEFGH2345"
NOW = datetime(2026, 12, 4, tzinfo=UTC)
PRIOR = PriorBlock(
    id=7, by="Steward5", reason="edit warring", expiry=None, nocreate=False,
    autoblock=False, noemail=False, allowusertalk=True, partial=False,
)  # fmt: skip


def test_an_english_case_reads_as_it_always_did() -> None:
    assert action_reason(CASE, "Global ban", "Log") == (
        f"Office action (Global ban), case {CASE}. See [[Log]]"
    )
    assert undo_reason(CASE, Ending.EXPIRED) == f"Office action of case {CASE} expired"
    english = Lifting(CASE, Ending.REVERSED, NOW, ENGLISH)
    assert english.reason == f"Office action of case {CASE} reversed"
    assert english.restoring(PRIOR) == (
        f"Restoring block #7 by Steward5 (edit warring), which office action {CASE} replaced;"
        " the office action reversed"
    )


def test_a_russian_case_reads_in_russian_then_english() -> None:
    russian = notices.log_wording(approval("global-ban", "X", language="ru-RU").decision)
    said = action_reason(CASE, "Global ban", "Log", russian, "Глобальный бан")
    assert said == (
        f"Офисное действие (Глобальный бан), дело {CASE}. См. [[Log]]"
        f" / Office action (Global ban), case {CASE}. See [[Log]]"
    )
    lifting = Lifting(CASE, Ending.EXPIRED, NOW, russian)
    assert lifting.reason.startswith(f"Срок офисного действия по делу {CASE} истёк / ")
    restoring = lifting.restoring(PRIOR)
    assert restoring.startswith("Восстановление блокировки #7 (Steward5: edit warring)")
    assert restoring.count(restored_marker(7)) == 2 and restoring.count(CASE) == 2
    assert "истекло" in restoring and restoring.endswith("the office action expired")


def test_a_language_without_a_notice_gets_english() -> None:
    decision = approval("global-ban", "X", language="de").decision
    assert notices.log_wording(decision) is ENGLISH


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("action: a\n", "reversed: missing"),
        (
            "action: a\nreversed: b\nexpired: c\nrestoring: '#{block_id} x'\n"
            "ending_reversed: d\nending_expired: e\ncolour: f\n",
            "colour: unknown field",
        ),
        (
            "action: a\nreversed: b\nexpired: c\nrestoring: 'block {block_id}'\n"
            "ending_reversed: d\nending_expired: e\n",
            "restoring: must keep",
        ),
        (
            "action: '{case} {title}'\nreversed: b\nexpired: c\nrestoring: '#{block_id} x'\n"
            "ending_reversed: d\nending_expired: e\n",
            "unknown or broken placeholder",
        ),
    ],
)
def test_a_broken_wording_file_stops_enforcement_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, problem: str
) -> None:
    for name in ("notice.xx.wiki.j2", "reversed.xx.wiki.j2"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "log.xx.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(notices, "TEMPLATES", tmp_path)
    notices.languages.cache_clear()
    notices._log_wording.cache_clear()
    try:
        with pytest.raises(ValueError, match=problem) as caught:
            notices.NoticeRenderer("Log")
        assert "log.xx.yaml" in str(caught.value)
    finally:
        notices.languages.cache_clear()
        notices._log_wording.cache_clear()


def test_a_notice_language_without_its_wording_stops_enforcement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("notice.xx.wiki.j2", "reversed.xx.wiki.j2"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    monkeypatch.setattr(notices, "TEMPLATES", tmp_path)
    notices.languages.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"log\.xx\.yaml missing"):
            notices.NoticeRenderer("Log")
    finally:
        notices.languages.cache_clear()
        notices._log_wording.cache_clear()

"""Rendering console pages (templates and EN/RU messages in this folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from casework.pages import Pages

HERE = Path(__file__).resolve().parent


def _when(value: Any) -> str:
    if value is None:
        return "—"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("T", " ")[:16] + " UTC"


PAGES = Pages(HERE, cookie="console_lang", filters={"when": _when})
render = PAGES.render

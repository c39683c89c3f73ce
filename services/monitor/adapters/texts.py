"""The monitor's user-facing text, loaded from text/<lang>.yaml."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEXT_DIR = Path(__file__).resolve().parent / "text"
LANGUAGES = ("en", "ru")


@cache
def texts(language: str) -> dict[str, Any]:
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r}: must be one of {', '.join(LANGUAGES)}")
    loaded: dict[str, Any] = yaml.safe_load((TEXT_DIR / f"{language}.yaml").read_text("utf-8"))
    return loaded


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def alert_text(language: str, kind: str, params: dict[str, str]) -> tuple[str, str]:
    """(what happened, what to do) for an alert kind, filled from its parameters."""
    template = texts(language)["alerts"][kind]
    values = _Blank(params)
    return (
        template["what_happened"].format_map(values),
        template["what_to_do"].format_map(values),
    )

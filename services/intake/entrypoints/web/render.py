"""Rendering the web form's pages (templates and EN/RU messages in this folder)."""

from __future__ import annotations

from pathlib import Path

from casework.pages import Pages

PAGES = Pages(Path(__file__).resolve().parent, cookie="intake_lang")
render = PAGES.render
page_language = PAGES.page_language

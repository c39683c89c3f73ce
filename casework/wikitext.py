"""Values written into wikitext as plain text: nothing they contain can open a link, a
template, a tag, a table, a heading or a signature, or switch on a magic word such as
``__NOTOC__``. Pure.

`escape` turns every character wikitext gives a meaning to into an HTML character
reference, which the parser shows as the character and never interprets (also inside a
link target, where ``<nowiki>`` cannot go: MediaWiki decodes the references in titles).
"""

from __future__ import annotations

import html

# Characters wikitext reads as markup inline: tags and entities, links, templates and
# tables, bold and italics, headings, signatures (`~~~`), magic words (`__NOTOC__`) and
# free links (`://`). Values are written inline, never at the start of a line.
_SPECIAL = "&<>[]{}|'=~_:"
_NOT_IN_TITLES = set("#<>[]|{}\x7f") | {chr(c) for c in range(32)}
_TABLE = {ord(c): f"&#{ord(c)};" for c in _SPECIAL} | {
    ord("\n"): " ",
    ord("\r"): " ",
    ord("\t"): " ",
}


def escape(text: str) -> str:
    """``text`` as inert wikitext: it shows as itself and does nothing."""
    return text.translate(_TABLE)


def nowiki(text: str) -> str:
    """Free text (a rationale, a description) inside ``<nowiki>``, where no markup but a
    tag or an entity works (line breaks included): those are escaped, the rest reads as
    typed."""
    return "<nowiki>" + html.escape(text, quote=False) + "</nowiki>"


def link_to_user(name: str) -> str:
    """A link to the user's page showing the name, both parts inert; just the name when no
    page can have it as a title (the wiki would show the brackets as text)."""
    safe = escape(name)
    return f"[[User:{safe}|{safe}]]" if titled(name) else safe


def link_to_page(title: str) -> str:
    """A link to a page by its title (a configured one, such as the public log)."""
    safe = escape(title)
    return f"[[{safe}]]" if titled(title) else safe


def titled(text: str) -> bool:
    """Could a page be named ``text``? MediaWiki refuses these in titles."""
    return bool(text.strip()) and not (_NOT_IN_TITLES & set(text)) and "~~~" not in text

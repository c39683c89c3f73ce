"""Account names a submission may name, and the key duplicates are found by. No I/O.

MediaWiki refuses user names with link or template syntax, control characters and
directional or other invisible format characters, and longer than 85 bytes; intake refuses
them too, so a name cannot be written into wikitext or shown reversed. Duplicates are found
by a skeleton (NFKC, a confusables mapping to ASCII look-alikes from the Unicode
confusables data as ``confusable_homoglyphs`` ships it, then casefold), so ``Vandal1`` and
``Vаndal1`` (Cyrillic а) name the same target.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from confusable_homoglyphs import confusables

from casework.contract.common import canonical_account

MAX_BYTES = 85
_FORBIDDEN = frozenset("#<>[]|{}/@:")
# Directional marks and embeddings the issue names; every other format character (category
# Cf: zero-width joiners, soft hyphens, BOM…) is refused by category below.
_BIDI = (
    frozenset("\u200e\u200f\u061c")
    | {chr(c) for c in range(0x202A, 0x202F)}
    | {chr(c) for c in range(0x2066, 0x206A)}
)
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Within ASCII, the look-alikes UTS #39 folds together: I, l, 1 and |; O and 0.
_ASCII_FOLD = str.maketrans({"I": "l", "1": "l", "|": "l", "0": "O"})


def account_problem(name: str) -> str | None:
    """Why MediaWiki would not take ``name`` as a user name; None when it would."""
    if len(name.encode("utf-8")) > MAX_BYTES:
        return f"must be at most {MAX_BYTES} bytes as UTF-8"
    for char in name:
        if char in _BIDI:
            return f"must not contain the directional control U+{ord(char):04X}"
        if char in _FORBIDDEN:
            return f"must not contain {char!r}"
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return f"must not contain the control or format character U+{ord(char):04X}"
    if not name.strip():
        return "must not be blank"
    return None


@cache
def _prototype(char: str) -> str:
    """The ASCII letter or digit ``char`` is confused with, or ``char`` itself."""
    if char.isascii():
        return char
    for glyph in confusables.confusables_data.get(char, ()):
        candidate = str(glyph["c"])
        if len(candidate) == 1 and candidate.isascii() and candidate.isalnum():
            return candidate
    return char


def skeleton(name: str) -> str:
    """The key two names share when a reader could take one for the other."""
    folded = unicodedata.normalize("NFKC", canonical_account(name))
    mapped = "".join(_prototype(c) for c in folded).translate(_ASCII_FOLD)
    return unicodedata.normalize("NFKC", mapped.casefold())

"""The wiki farm an operator enforces on: wiki ids and their Action API URLs."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ENTRY = re.compile(r"^(?P<id>[a-z0-9_-]{1,64})=(?P<url>https?://\S+/api\.php)$")


class FarmError(ValueError):
    pass


@dataclass(frozen=True)
class Wiki:
    id: str
    api_url: str


def parse_farm(text: str, *, variable: str = "WIKI_FARM") -> dict[str, Wiki]:
    """Parse "id=https://host/w/api.php,id2=…" into wikis, naming the bad entry on error."""
    wikis: dict[str, Wiki] = {}
    for raw in filter(None, (part.strip() for part in text.split(","))):
        match = _ENTRY.match(raw)
        if not match:
            raise FarmError(
                f"{variable}: entry {raw!r} must look like id=http(s)://host/path/api.php "
                "(id: lower-case letters, digits, _ or -)"
            )
        if match["id"] in wikis:
            raise FarmError(f"{variable}: wiki id {match['id']!r} appears twice")
        wikis[match["id"]] = Wiki(match["id"], match["url"])
    if not wikis:
        raise FarmError(f"{variable}: no wikis configured")
    return wikis

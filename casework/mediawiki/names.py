"""User names as the wiki spells them, and which of them can be read in a list of names."""

from __future__ import annotations

import ipaddress
import re

# Users per list=blocks or list=users read: the API's limit of bkusers and ususers for an
# account without apihighlimits.
BLOCK_READ_USERS = 50


def _listable(user: str) -> bool:
    """A user name that can go in a list of names and be found again in the answer (not an
    IP or range, whose spelling the wiki changes in other ways)."""
    if not user.strip() or "|" in user or not user.isprintable():
        return False
    try:
        ipaddress.ip_network(user.strip(), strict=False)
    except ValueError:
        return True
    return False


def _canonical(user: str) -> str:
    """The name as the wiki spells it: spaces for underscores, trimmed, first letter upper."""
    name = re.sub(r"[ _]+", " ", user).strip()
    return name[:1].upper() + name[1:]

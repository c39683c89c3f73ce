"""What a typed login means: one normalisation, used by the directory lookup
(`StaffDirectory.by_login`), the sign-in throttle and the sign-in audit alike.

A login is compared after Unicode NFKC (full-width and compatibility forms fold to their
plain letters), with white space at both ends removed, case-folded. Anything that
normalises to a staff id or e-mail address is that account, so it is counted against
that account: typing " tess" or "TESS" after five failures for "tess" meets the same
throttle.
"""

from __future__ import annotations

import unicodedata

ACCOUNT = "account:"  # throttle keys for a login that names a staff member
UNKNOWN = "login:"  # ... and for one that names nobody


def login_key(login: str) -> str:
    """The form logins, staff ids and e-mail addresses are compared in."""
    return unicodedata.normalize("NFKC", login).strip().casefold()


def throttle_key(login: str, staff_id: str | None) -> str:
    """What failed sign-ins are counted against: the account the login resolved to,
    else the normalised login (so variants of one unknown name share a counter)."""
    return ACCOUNT + staff_id if staff_id is not None else UNKNOWN + login_key(login)

"""E-mail addresses a submission may carry, and when two are the same mailbox. No I/O.

Syntax is checked by the maintained ``email-validator`` package (no DNS look-up here):
an address that could never be mailed (control characters, line breaks, angle brackets,
quoted local parts, IP literals, reserved domains) is refused at the door.
"""

from __future__ import annotations

from functools import lru_cache

from email_validator import EmailNotValidError, validate_email


class AddressError(ValueError):
    """Not an address mail can be sent to; the message says why."""


# A submission checks its requester's address twice (the form, then the address it was
# made with), and a flood repeats the same few addresses; the check is pure and is the
# largest single cost of validating a submission. Refusals are not cached (they raise).
@lru_cache(maxsize=4096)
def normalised(address: str) -> str:
    """The address as email-validator normalises it: the local part as given (Unicode NFC),
    the domain lower-cased (IDNA). Raises AddressError."""
    try:
        checked = validate_email(
            address,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError as exc:
        raise AddressError(str(exc)) from None
    return str(checked.normalized)


def same_mailbox(one: str, other: str) -> bool:
    """Equal once normalised (the domain case-insensitively); False when either is invalid."""
    try:
        return normalised(one) == normalised(other)
    except AddressError:
        return False

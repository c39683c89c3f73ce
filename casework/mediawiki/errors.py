"""What a failed MediaWiki call raises, and which failures are worth retrying."""

from __future__ import annotations

TRANSIENT_CODES = frozenset({"ratelimited", "readonly", "maxlag"})


class MediaWikiError(Exception):
    """An API error (``code``/``info`` as the wiki sent them) or a transport failure."""

    def __init__(
        self, code: str, info: str, *, transient: bool | None = None, maybe_running: bool = False
    ) -> None:
        super().__init__(f"{code}: {info}")
        self.code = code
        self.info = info
        self.transient = is_transient(code) if transient is None else transient
        # The request was sent and no answer came (a timeout, a dropped connection): the
        # wiki may still be carrying it out.
        self.maybe_running = maybe_running


class LoginError(MediaWikiError):
    """action=login did not succeed; ``code`` is ``login-<result>``, e.g. ``login-failed``."""


def is_transient(code: str) -> bool:
    return code in TRANSIENT_CODES or code.startswith("internal_api_error_")

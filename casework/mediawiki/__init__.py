"""Async client for the MediaWiki Action API (the bits enforcement and notify need).

Logs in with a bot password (lazily, on first use), caches the CSRF token, and sends every
request with ``assert=user`` so that reads see what the account may see (hidden blocks).
A request that fails with ``badtoken`` refetches the token, one that fails with
``assertuserfailed`` (session lost) logs in again; either is retried once. Transient failures
(network errors, HTTP 5xx/429, ``ratelimited``, ``readonly``, ``maxlag``,
``internal_api_error_*``) are retried with exponential backoff; everything else raises
:class:`MediaWikiError` at once.

Retrying a write after a network error can repeat it if the first attempt did reach the wiki:
callers should expect e.g. ``alreadyblocked`` on a retried block.
"""

from casework.mediawiki.client import MediaWikiClient
from casework.mediawiki.errors import TRANSIENT_CODES, LoginError, MediaWikiError, is_transient
from casework.mediawiki.models import (
    BlockInfo,
    BlockResult,
    BlockState,
    EditResult,
    GlobalAccount,
    LogEvent,
    PageRevision,
    PageSize,
    PageState,
    ProtectionLevel,
    RevisionFlags,
    RightsResult,
    UnblockResult,
)
from casework.mediawiki.names import BLOCK_READ_USERS

__all__ = [
    "BLOCK_READ_USERS",
    "TRANSIENT_CODES",
    "BlockInfo",
    "BlockResult",
    "BlockState",
    "EditResult",
    "GlobalAccount",
    "LogEvent",
    "LoginError",
    "MediaWikiClient",
    "MediaWikiError",
    "PageRevision",
    "PageSize",
    "PageState",
    "ProtectionLevel",
    "RevisionFlags",
    "RightsResult",
    "UnblockResult",
    "is_transient",
]

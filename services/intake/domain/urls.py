"""Links a submission gives, read the way a browser reads them (WHATWG URL, via the
maintained ``ada-url`` parser). No I/O.

A link is refused when a browser and Python's ``urllib`` could disagree about where it
goes (a backslash, user information before the host, a host they read differently) or
when it cannot be parsed at all, so the host intake checks is the host a reader visits.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import ada_url
import idna


def whatwg_host(url: str) -> str:
    """The host a browser would visit (lower-case, IDNA); "" when it cannot be parsed."""
    try:
        return str(ada_url.URL(url).hostname).lower()
    except ValueError:
        return ""


def _urllib_host(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None
    if host.isascii():
        return host.lower()
    try:
        return idna.encode(host, uts46=True).decode("ascii").lower()
    except idna.IDNAError:
        return None


def _authority(url: str) -> str:
    """What follows ``scheme://`` up to the path, query or fragment, as written."""
    rest = url.partition("://")[2]
    for end in "/?#":
        rest = rest.partition(end)[0]
    return rest


def url_problem(url: str) -> str | None:
    """Why the link is refused; None when every reader takes it to the same host."""
    if "\\" in url:
        return "must not contain a backslash (browsers read it as a slash)"
    try:
        parsed = ada_url.URL(url)
    except ValueError:
        return "is not a URL a browser can open"
    if parsed.protocol not in ("http:", "https:"):
        return "must be an http or https URL"
    if parsed.username or parsed.password or "@" in _authority(url):
        return "must not carry a user name or password"
    host = str(parsed.hostname).lower()
    if not host:
        return "must name a host"
    if _urllib_host(url) != host.removeprefix("[").removesuffix("]"):
        return "is read differently by browsers and other software; give the plain address"
    return None

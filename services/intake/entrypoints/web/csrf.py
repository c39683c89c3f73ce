"""CSRF protection for the web form: a signed double-submit token.

The page sets a cookie holding a random nonce and its HMAC, and puts the same value in a
hidden field. A POST is taken only when the field equals the cookie and the signature is
the server's, so neither a cross-site form (no cookie access) nor a planted cookie
(no key) passes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "intake_csrf"
FIELD = "csrf_token"


class CsrfTokens:
    def __init__(self, secret: str) -> None:
        self._key = (secret or secrets.token_hex(32)).encode()

    def new(self) -> str:
        nonce = secrets.token_urlsafe(24)
        return f"{nonce}.{self._sign(nonce)}"

    def valid(self, token: str | None) -> bool:
        if not token or token.count(".") != 1:
            return False
        nonce, signature = token.split(".")
        return hmac.compare_digest(signature.encode(), self._sign(nonce).encode())

    def accepts(self, cookie: str | None, field: str | None) -> bool:
        """Whether a POST carrying ``cookie`` and form ``field`` came from our own page."""
        if not cookie or not field:
            return False
        return hmac.compare_digest(cookie.encode(), field.encode()) and self.valid(cookie)

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()[:32]

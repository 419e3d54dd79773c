"""Meta's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`,
keyed with the app secret. Checked on the bytes as received: re-encoding parsed JSON would
change them (spacing, escapes) and the signature with them."""

from __future__ import annotations

import hashlib
import hmac

_PREFIX = "sha256="


def sign(app_secret: str, body: bytes) -> str:
    """The header value Meta sends for `body` (also what tests sign their payloads with)."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of `body`; constant time in the digest."""
    if not header or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(sign(app_secret, body).encode(), header.strip().lower().encode())


def token_matches(expected: str, given: str) -> bool:
    """The verify token, compared in constant time."""
    return hmac.compare_digest(expected.encode(), given.encode())

"""Short-lived signed links: whoever holds one reads one file until it expires, with no
session (webhook receivers, SDK agents handing a file on, a model provider fetching it)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode


class LinkSigner:
    """Signs `/api/attachments/{id}?expires=..&sig=..` with a key derived from the server
    secret; `base_url` makes the links absolute (empty: relative to the server)."""

    def __init__(self, secret: str, ttl_seconds: int, base_url: str = "") -> None:
        self._key = hashlib.sha256(b"shoal-attachment-links\0" + secret.encode()).digest()
        self.ttl_seconds = ttl_seconds
        self.base_url = base_url.rstrip("/")

    def _signature(self, attachment_id: str, expires: int) -> str:
        message = f"{attachment_id}:{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def sign(self, attachment_id: str, now: float | None = None) -> tuple[str, int]:
        """A link to the file and when it expires (Unix seconds)."""
        expires = int((time.time() if now is None else now) + self.ttl_seconds)
        query = urlencode({"expires": expires, "sig": self._signature(attachment_id, expires)})
        return f"{self.base_url}/api/attachments/{attachment_id}?{query}", expires

    def verify(self, attachment_id: str, expires: str | None, signature: str | None,
               now: float | None = None) -> bool:
        """Whether a link's signature is right and it has not expired."""
        if not expires or not signature or not expires.isdigit():
            return False
        if int(expires) < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self._signature(attachment_id, int(expires)), signature)


def with_signed_links(signer: LinkSigner, items: Iterable[dict[str, Any]]
                      ) -> list[dict[str, Any]]:
    """Copies of a message's files (`{id, ...}`), each with a link a receiver without a
    session can read it by: `signed_url` and `signed_url_expires`."""
    linked = []
    for item in items:
        url, expires = signer.sign(item["id"])
        linked.append({**item, "signed_url": url, "signed_url_expires": expires})
    return linked

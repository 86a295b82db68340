"""Secrets at rest and tokens on the wire: encryption keyed by the server secret, token hashing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    """Encrypts secrets users give Shoal (API keys, webhook secrets) with a key derived
    from the server secret, so a copied database file alone does not reveal them."""

    def __init__(self, server_secret: str, purpose: str = "shoal-secrets-v1") -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()
        ).derive(server_secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, plaintext: str) -> str:
        """Encrypt and authenticate a secret; the result is ASCII."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """Recover a secret; raises ValueError if it was not sealed with this server secret."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("secret was encrypted with a different server secret") from None


def new_token(prefix: str) -> str:
    """A fresh bearer token: a readable prefix and 256 random bits."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which an issued token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def mask(secret: str) -> str:
    """A secret as it may be shown: its last four characters at most."""
    return "…" + secret[-4:] if len(secret) > 8 else "…"


def sign(secret: str, payload: bytes) -> str:
    """HMAC-SHA256 of a payload, hex."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, secret: str | None, event: str = "activation"
                   ) -> dict[str, str]:
    """Headers of a call Shoal makes to an agent's or a command's webhook (`event` says
    which). With a secret: the contract's `X-Crustocean-Signature` (HMAC-SHA256 of the body),
    and `X-Shoal-Signature` over `timestamp.body`, which lets a receiver refuse replayed calls
    by their `X-Shoal-Timestamp`."""
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": "Shoal-Webhook/1",
               "X-Shoal-Event": event, "X-Shoal-Timestamp": timestamp}
    if secret is not None:
        headers["X-Crustocean-Signature"] = sign(secret, body)
        headers["X-Shoal-Signature"] = "sha256=" + sign(secret, f"{timestamp}.".encode() + body)
    return headers

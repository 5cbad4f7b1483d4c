"""Webhook signing secrets: made, encrypted at rest, and used to sign each request.

The secret is shown to the admin once and stored encrypted with Fernet (AES-128-CBC + HMAC). The
Fernet key is derived from the application's secret key with HKDF-SHA256 and a fixed label, so no
second secret has to be configured, and a copy of the database alone reveals no signing secret.
Rotating ``RAPPORT_SECRET_KEY`` makes the stored secrets unreadable: endpoints then need new ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

PREFIX = "whsec_"
SIGNATURE_HEADER = "Rapport-Signature"
_LABEL = b"rapport webhook secrets v1"


def new_secret() -> str:
    """A fresh signing secret (256 random bits)."""
    return PREFIX + secrets.token_urlsafe(32)


def _fernet(secret_key: str | None = None) -> Fernet:
    secret_key = secret_key or current_app.config["RAPPORT"].secret_key
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 of ``<timestamp>.<body>`` under the secret, hex encoded."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Rapport-Signature`` value: ``t=<unix seconds>,v1=<hex>``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does: check the signature and that the timestamp is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, timestamp, body))

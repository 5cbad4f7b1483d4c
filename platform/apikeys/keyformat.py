"""The key's text: ``rk_<env>_<id>_<secret><checksum>``.

The id is public (it finds the row); the secret carries 192 random bits; the last six characters
are a CRC32 of everything before them, in base62, so a mistyped or truncated key is refused
without touching the database, and secret scanners can recognise a Rapport key by its shape.
"""

from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_BYTES = 9  # 72 bits: unique enough to look up, and checked by a unique index anyway
SECRET_BYTES = 24  # 192 bits of secret
ID_LEN = 13  # base62 digits for 9 bytes
SECRET_LEN = 33  # base62 digits for 24 bytes
CHECKSUM_LEN = 6  # base62 digits for a CRC32

_SHAPE = re.compile(
    rf"^rk_(live|test)_([0-9A-Za-z]{{{ID_LEN}}})_([0-9A-Za-z]{{{SECRET_LEN}}})"
    rf"([0-9A-Za-z]{{{CHECKSUM_LEN}}})$"
)
#: Anything that looks like a key (for refusing keys where they must never be, such as URLs).
LOOKS_LIKE_KEY = re.compile(r"rk_(?:live|test)_[0-9A-Za-z]")


def base62(data: bytes, width: int) -> str:
    """Encode bytes as a fixed-width base62 string."""
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode()).to_bytes(4, "big"), CHECKSUM_LEN)


def environment_tag(env: str) -> str:
    """``live`` in production, ``test`` anywhere else, so a test key never works in production."""
    return "live" if env == "production" else "test"


@dataclass(frozen=True)
class ParsedKey:
    env: str
    prefix_id: str
    secret: str


def generate(env_tag: str) -> tuple[str, ParsedKey]:
    """Make a new key; return its full text and its parts."""
    prefix_id = base62(secrets.token_bytes(ID_BYTES), ID_LEN)
    secret = base62(secrets.token_bytes(SECRET_BYTES), SECRET_LEN)
    body = f"rk_{env_tag}_{prefix_id}_{secret}"
    return body + checksum(body), ParsedKey(env_tag, prefix_id, secret)


def parse(text: str) -> ParsedKey | None:
    """Split a key into its parts; None when its shape or checksum is wrong."""
    match = _SHAPE.match(text)
    if match is None:
        return None
    env, prefix_id, secret, check = match.groups()
    expected = checksum(text[:-CHECKSUM_LEN])
    if not secrets.compare_digest(check, expected):
        return None
    return ParsedKey(env, prefix_id, secret)

"""Identifiers: UUIDv7, time-ordered so that B-tree inserts stay local."""

from __future__ import annotations

import uuid

from uuid6 import uuid7


def new_id() -> uuid.UUID:
    """Return a fresh UUIDv7 (the uuid6 package; Python 3.11 has no uuid.uuid7)."""
    return uuid.UUID(bytes=uuid7().bytes)

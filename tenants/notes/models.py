"""Tables of notes (in each tenant's schema)."""

from __future__ import annotations

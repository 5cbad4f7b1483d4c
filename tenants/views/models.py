"""Tables of views (in each tenant's schema)."""

from __future__ import annotations

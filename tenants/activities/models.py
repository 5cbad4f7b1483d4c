"""Tables of activities (in each tenant's schema)."""

from __future__ import annotations

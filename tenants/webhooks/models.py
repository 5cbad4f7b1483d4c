"""Tables of webhooks (in each tenant's schema)."""

from __future__ import annotations

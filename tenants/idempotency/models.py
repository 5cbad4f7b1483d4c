"""Stored responses of idempotent API requests (in each tenant's schema)."""

from __future__ import annotations

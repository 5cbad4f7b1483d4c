"""Modules switched on and off per tenant (being written)."""

from __future__ import annotations

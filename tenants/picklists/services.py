"""Picklists: every list a user picks from (being written)."""

from __future__ import annotations

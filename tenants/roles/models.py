"""Roles and their permissions (being written)."""

from __future__ import annotations

"""Roles admin (being written)."""

from __future__ import annotations

from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("roles", __name__, "/settings/roles")

"""Modules admin (being written)."""

from __future__ import annotations

from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("modules", __name__, "/settings/modules")

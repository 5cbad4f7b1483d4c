"""Notes in the browser (routes to come)."""

from __future__ import annotations

from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("notes", __name__, "/notes")

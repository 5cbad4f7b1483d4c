"""Notes and attachments on records. (operations to come)."""

from __future__ import annotations

from typing import Any

from rapport.api.auth import api_blueprint

blp = api_blueprint(
    "api_notes",
    __name__,
    url_prefix="/api/v1/notes",
    description="Notes and attachments on records.",
)


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""

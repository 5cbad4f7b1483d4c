"""Custom field definitions. (operations to come)."""

from __future__ import annotations

from typing import Any

from rapport.api.auth import api_blueprint

blp = api_blueprint(
    "api_fields",
    __name__,
    url_prefix="/api/v1/fields",
    description="Custom field definitions.",
)


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""

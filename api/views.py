"""(being written)"""

from __future__ import annotations

from typing import Any

from rapport.api.auth import api_blueprint

blp = api_blueprint("api_views", __name__, url_prefix="/api/v1/views", description="(being written)")


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""

"""The workspace's members (read only). (operations to come)."""

from __future__ import annotations

from typing import Any

from rapport.api.auth import api_blueprint

blp = api_blueprint(
    "api_members",
    __name__,
    url_prefix="/api/v1/members",
    description="The workspace's members (read only).",
)


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""

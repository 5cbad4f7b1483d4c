"""Activities: tasks, calls, meetings and visits. (operations to come)."""

from __future__ import annotations

from typing import Any

from rapport.api.auth import api_blueprint

blp = api_blueprint(
    "api_activities",
    __name__,
    url_prefix="/api/v1/activities",
    description="Activities: tasks, calls, meetings and visits.",
)


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""

"""Leads: capture, qualification, assignment and conversion. (operations to come)."""

from __future__ import annotations

from typing import Any

from rapport.api.auth import api_blueprint

blp = api_blueprint(
    "api_leads",
    __name__,
    url_prefix="/api/v1/leads",
    description="Leads: capture, qualification, assignment and conversion.",
)


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""

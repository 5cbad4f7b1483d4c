"""Webhook endpoints, their deliveries and redelivery. (operations to come)."""

from __future__ import annotations

from typing import Any

from rapport.api.auth import api_blueprint

blp = api_blueprint(
    "api_webhooks",
    __name__,
    url_prefix="/api/v1/webhooks",
    description="Webhook endpoints, their deliveries and redelivery.",
)


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""

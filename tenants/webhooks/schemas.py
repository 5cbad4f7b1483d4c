"""Input and output of webhook endpoints and deliveries (shared by the web and the API)."""

from __future__ import annotations

import marshmallow as ma

from rapport.tenants.webhooks.models import DELIVERY_STATES


class EndpointInputSchema(ma.Schema):
    """What an admin sets on an endpoint."""

    class Meta:
        unknown = ma.RAISE

    url = ma.fields.String(
        required=True,
        error_messages={"required": "Enter the address that receives the events."},
        validate=ma.validate.Length(min=1, max=2000),
        metadata={
            "description": "Where events are POSTed (http:// or https://).",
            "example": "https://example.com/hooks/rapport",
        },
    )
    description = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=200)
    )
    event_types = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=80)),
        required=True,
        validate=[
            ma.validate.Length(min=1, error="Choose at least one event type."),
            ma.validate.Length(max=200),
        ],
        error_messages={"required": "Choose at least one event type."},
        metadata={"description": "Event types to receive, e.g. company.created."},
    )
    enabled = ma.fields.Boolean(load_default=True)
    role = ma.fields.String(
        load_default="admin",
        validate=ma.validate.Length(min=1, max=60),
        metadata={
            "description": "The role whose view the events follow: records it cannot see are "
            "not sent, and fields it may not see are left out (like an API key's role).",
            "example": "admin",
        },
    )


class EndpointSchema(ma.Schema):
    """An endpoint as shown (never with its secret)."""

    id = ma.fields.UUID(dump_only=True)
    url = ma.fields.String(dump_only=True)
    description = ma.fields.String(dump_only=True, allow_none=True)
    event_types = ma.fields.List(ma.fields.String(), dump_only=True)
    enabled = ma.fields.Boolean(dump_only=True)
    role = ma.fields.String(dump_only=True)
    secret_hint = ma.fields.String(
        dump_only=True, metadata={"description": "The secret's last characters."}
    )
    disabled_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    disabled_reason = ma.fields.String(dump_only=True, allow_none=True)
    failing_since = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class CreatedEndpointSchema(EndpointSchema):
    """The endpoint just created, with its signing secret (shown this once)."""

    secret = ma.fields.String(
        dump_only=True,
        metadata={"description": "The signing secret. Store it now: it is never shown again."},
    )


class AttemptSchema(ma.Schema):
    number = ma.fields.Integer(dump_only=True)
    started_at = ma.fields.AwareDateTime(dump_only=True)
    status = ma.fields.Integer(dump_only=True, allow_none=True)
    duration_ms = ma.fields.Integer(dump_only=True)
    error = ma.fields.String(dump_only=True, allow_none=True)
    response_excerpt = ma.fields.String(dump_only=True, allow_none=True)
    manual = ma.fields.Boolean(dump_only=True)


class DeliverySchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    endpoint_id = ma.fields.UUID(dump_only=True)
    event_id = ma.fields.String(dump_only=True)
    event_type = ma.fields.String(dump_only=True)
    state = ma.fields.String(dump_only=True, metadata={"enum": list(DELIVERY_STATES)})
    attempts = ma.fields.Integer(dump_only=True)
    next_attempt_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    last_status = ma.fields.Integer(dump_only=True, allow_none=True)
    last_error = ma.fields.String(dump_only=True, allow_none=True)
    last_duration_ms = ma.fields.Integer(dump_only=True, allow_none=True)
    delivered_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    attempt_log = ma.fields.List(
        ma.fields.Nested(AttemptSchema), dump_only=True, data_key="attempt_log"
    )

"""Webhook endpoints, their deliveries and redelivery (admin keys only).

The signing secret is returned once, in the answer to the POST that creates the endpoint.
"""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView

from rapport.api import errors
from rapport.api.auth import api_blueprint, current_key
from rapport.platform.identity.members import MANAGERS
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import events
from rapport.tenants.webhooks import queries, services
from rapport.tenants.webhooks.models import DELIVERY_STATES
from rapport.tenants.webhooks.schemas import (
    CreatedEndpointSchema,
    DeliverySchema,
    EndpointInputSchema,
    EndpointSchema,
)

blp = api_blueprint(
    "api_webhooks",
    __name__,
    url_prefix="/api/v1/webhooks",
    description="Webhook endpoints, their deliveries and redelivery (admin keys).",
)


@blp.before_request
def _admins_only() -> None:
    if current_key().role not in MANAGERS:
        errors.fail(403, "Only an admin key may manage webhooks.")


class EndpointListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(EndpointSchema), required=True)


class DeliveryListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(DeliverySchema), required=True)
    next_before = ma.fields.UUID(
        allow_none=True, metadata={"description": "Pass as before= for the next page."}
    )


class DeliveryArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    state = ma.fields.String(load_default=None, validate=ma.validate.OneOf(DELIVERY_STATES))
    before = ma.fields.UUID(
        load_default=None, metadata={"description": "Only deliveries older than this one."}
    )
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


class EventTypeSchema(ma.Schema):
    type = ma.fields.String(required=True)
    description = ma.fields.String(required=True)


class EventTypeListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(EventTypeSchema), required=True)


class EndpointPatchSchema(EndpointInputSchema):
    """Every field optional."""

    url = ma.fields.String(validate=ma.validate.Length(min=1, max=2000))
    event_types = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=80)),
        validate=ma.validate.Length(min=1, max=200),
    )
    enabled = ma.fields.Boolean()


_BODY = {"required": True, "content": {"application/json": {"schema": EndpointInputSchema}}}
_PATCH = {"required": True, "content": {"application/json": {"schema": EndpointPatchSchema}}}


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("WebhookEndpointInput", schema=EndpointInputSchema)
    spec.components.schema("WebhookEndpointPatch", schema=EndpointPatchSchema)
    spec.components.schema("WebhookEndpoint", schema=EndpointSchema)
    spec.components.schema("WebhookEndpointCreated", schema=CreatedEndpointSchema)
    spec.components.schema("WebhookEndpointList", schema=EndpointListSchema)
    spec.components.schema(
        "WebhookAttempt", schema=DeliverySchema().fields["attempt_log"].inner.nested
    )
    spec.components.schema("WebhookDelivery", schema=DeliverySchema)
    spec.components.schema("WebhookDeliveryList", schema=DeliveryListSchema)
    spec.components.schema("WebhookEventType", schema=EventTypeSchema)
    spec.components.schema("WebhookEventTypeList", schema=EventTypeListSchema)


@blp.route("")
class Endpoints(MethodView):
    @blp.response(200, EndpointListSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    def get(self):  # type: ignore[no-untyped-def]
        """List webhook endpoints"""
        return {"items": queries.list_endpoints(tenant_db())}

    @blp.doc(requestBody=_BODY)
    @blp.response(201, CreatedEndpointSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Register an endpoint; the answer holds its signing secret, shown this once"""
        endpoint, secret = services.create_endpoint(tenant_db(), errors.json_body())
        endpoint.secret = secret  # a plain attribute, for this answer only; never stored
        return endpoint, {"Cache-Control": "no-store"}


@blp.route("/event-types")
@blp.response(200, EventTypeListSchema)
@blp.alt_response(403, response="DEFAULT_ERROR")
def event_types():  # type: ignore[no-untyped-def]
    """The event types an endpoint can receive"""
    return {"items": [{"type": t, "description": d} for t, d in sorted(events.EVENT_TYPES.items())]}


@blp.route("/<uuid:endpoint_id>")
class EndpointById(MethodView):
    @blp.response(200, EndpointSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, endpoint_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a webhook endpoint"""
        return queries.get_endpoint(tenant_db(), endpoint_id)

    @blp.doc(requestBody=_PATCH)
    @blp.response(200, EndpointSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, endpoint_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Change an endpoint (URL, description, event types, enabled)"""
        return services.update_endpoint(tenant_db(), endpoint_id, errors.json_body())

    @blp.response(204)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def delete(self, endpoint_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete an endpoint and its delivery log"""
        services.delete_endpoint(tenant_db(), endpoint_id)


@blp.route("/<uuid:endpoint_id>/test", methods=["POST"])
@blp.response(202, DeliverySchema)
@blp.alt_response(403, response="DEFAULT_ERROR")
@blp.alt_response(404, response="DEFAULT_ERROR")
def send_test(endpoint_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Send a webhook.test event to the endpoint"""
    return services.send_test(tenant_db(), endpoint_id)


@blp.route("/<uuid:endpoint_id>/deliveries")
@blp.arguments(DeliveryArgs, location="query")
@blp.response(200, DeliveryListSchema)
@blp.alt_response(403, response="DEFAULT_ERROR")
@blp.alt_response(404, response="DEFAULT_ERROR")
def deliveries(args: dict[str, Any], endpoint_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """An endpoint's deliveries with their attempts, newest first"""
    session = tenant_db()
    endpoint = queries.get_endpoint(session, endpoint_id)
    items = queries.list_deliveries(
        session, endpoint.id, state=args["state"], before=args["before"], limit=args["limit"]
    )
    more = len(items) == args["limit"]
    return {"items": items, "next_before": items[-1].id if more else None}


@blp.route("/deliveries/<uuid:delivery_id>/redeliver", methods=["POST"])
@blp.response(202, DeliverySchema)
@blp.alt_response(403, response="DEFAULT_ERROR")
@blp.alt_response(404, response="DEFAULT_ERROR")
def redeliver(delivery_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Send a delivery again now"""
    return services.redeliver(tenant_db(), delivery_id)

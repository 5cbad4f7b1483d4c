"""Deals over REST: list, read, create, change, delete and move between stages, like the web."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.api import errors
from rapport.api.auth import api_blueprint
from rapport.api.records import (
    FILTERS_DOC,
    ListArgs,
    RecordFields,
    check_if_match,
    page_body,
    page_schema,
    record_page,
    record_response,
)
from rapport.platform.db import get_or_not_found
from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies.schemas import load, plain_text
from rapport.tenants.deals import queries, services
from rapport.tenants.deals.models import DEAL_STATUSES, Deal
from rapport.tenants.deals.schemas import MAX_AMOUNT, DealSchema, MoveSchema

blp = api_blueprint(
    "api_deals", __name__, url_prefix="/api/v1/deals", description="Deals (opportunities)."
)


class DealInputSchema(DealSchema):
    """DealSchema as documented: its Decimal bounds would otherwise appear as JSON strings."""

    amount = ma.fields.Decimal(
        load_default=None,
        allow_none=True,
        places=2,
        metadata={
            "minimum": 0,
            "maximum": float(MAX_AMOUNT),
            "description": 'A number, or text such as "12 500.00".',
        },
    )


class DealRecordSchema(RecordFields, DealInputSchema):
    """A deal as the API returns it."""

    # Text, not a JSON number: an amount must not pass through a binary float on the way.
    amount = ma.fields.Decimal(
        places=2,
        as_string=True,
        allow_none=True,
        dump_only=True,
        metadata={"type": "string", "format": "decimal", "example": "1250.00"},
    )
    status = ma.fields.String(dump_only=True, metadata={"enum": list(DEAL_STATUSES)})
    lost_reason = ma.fields.String(dump_only=True, allow_none=True)
    closed_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    position = ma.fields.Integer(dump_only=True)


class DealListArgs(ListArgs):
    status = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(DEAL_STATUSES),
        metadata={"description": "Only the deals with this status."},
    )


DealPageSchema = page_schema("DealPageSchema", DealRecordSchema)
_BODY = {"required": True, "content": {"application/json": {"schema": DealInputSchema}}}
_MOVE_BODY = {"required": True, "content": {"application/json": {"schema": MoveSchema}}}


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("DealInput", schema=DealInputSchema)
    spec.components.schema("Deal", schema=DealRecordSchema)
    spec.components.schema("DealPage", schema=DealPageSchema)
    spec.components.schema("DealMove", schema=MoveSchema)


_REPRESENTATION = DealRecordSchema()  # built once: building a schema costs more than a dump


def represent(deal: Deal) -> dict[str, Any]:
    return _REPRESENTATION.dump(deal)


def _locked(session: Session, deal_id: uuid.UUID) -> Deal:
    return get_or_not_found(session, Deal, deal_id, "deal", for_update=True)


@blp.route("")
class Deals(MethodView):
    @blp.arguments(DealListArgs, location="query")
    @blp.doc(**FILTERS_DOC)
    @blp.response(200, DealPageSchema)
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List deals (search, status, filter[<field>][<op>], sort by any field)"""
        session = tenant_db()
        stmt = select(Deal)
        q = plain_text(args["q"] or "").strip()
        if q:
            stmt = stmt.where(Deal.name.icontains(q, autoescape=True))
        if args["status"]:
            stmt = stmt.where(Deal.status == args["status"])
        page, sort = record_page(
            session, "deals", stmt, Deal.id, args, default_sort=queries.DEFAULT_SORT
        )
        return page_body(page, sort, page.items)

    @blp.doc(requestBody=_BODY)
    @blp.response(201, DealRecordSchema)
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Create a deal (in the given stage, or the first open stage of the pipeline)"""
        deal = services.create_deal(tenant_db(), errors.json_body())
        return record_response(represent(deal), 201)


@blp.route("/<uuid:deal_id>")
class DealById(MethodView):
    @blp.response(200, DealRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a deal"""
        deal = queries.get_deal(tenant_db(), deal_id)
        return record_response(represent(deal))

    @blp.doc(requestBody=_BODY)
    @blp.response(200, DealRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Change some fields of a deal (its stage changes through move)"""
        session = tenant_db()
        check_if_match(represent(_locked(session, deal_id)))
        deal = services.update_deal(session, deal_id, errors.json_body(), partial=True)
        return record_response(represent(deal))

    @blp.response(204)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    def delete(self, deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete a deal with its stage history"""
        session = tenant_db()
        check_if_match(represent(_locked(session, deal_id)))
        services.delete_deal(session, deal_id)


@blp.route("/<uuid:deal_id>/move", methods=["POST"])
@blp.doc(requestBody=_MOVE_BODY)
@blp.response(200, DealRecordSchema)
@blp.alt_response(404, response="DEFAULT_ERROR")
@blp.alt_response(412, response="DEFAULT_ERROR")
@blp.alt_response(422, response="DEFAULT_ERROR")
def move(deal_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Move a deal to another stage of its pipeline (a lost stage needs lost_reason)"""
    session = tenant_db()
    check_if_match(represent(_locked(session, deal_id)))
    values = load(MoveSchema(), errors.json_body())
    try:
        deal = services.move_deal(
            session,
            deal_id,
            values["stage_id"],
            values["position"],
            lost_reason=values["lost_reason"],
        )
    except NotFound:
        # The deal is locked above, so what is missing is the stage named in the body: bad input.
        raise ValidationFailed({"stage_id": ["Choose a stage of this deal's pipeline."]}) from None
    return record_response(represent(deal))

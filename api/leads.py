"""Leads over REST: list, read, create (routed like every new lead), change, delete, convert."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from sqlalchemy.orm import Session

from rapport.api import errors
from rapport.api.auth import api_blueprint
from rapport.api.records import (
    ListArgs,
    RecordFields,
    check_if_match,
    page_body,
    page_schema,
    record_response,
)
from rapport.platform.errors import ValidationFailed
from rapport.platform.identity import members
from rapport.platform.tenancy.scope import current_tenant, tenant_db
from rapport.tenants.companies.schemas import load
from rapport.tenants.leads import queries, services
from rapport.tenants.leads.models import Lead
from rapport.tenants.leads.schemas import (
    RATING_VALUES,
    ConvertSchema,
    LeadSchema,
)

blp = api_blueprint(
    "api_leads",
    __name__,
    url_prefix="/api/v1/leads",
    description="Leads: capture, qualification, assignment and conversion.",
)


class LeadInputSchema(LeadSchema):
    """LeadSchema with its picklists spelled out in the document."""

    # Picklist values are tenant data: the tenant's document lists them (tenants/picklists).
    source = ma.fields.String(load_default=None, allow_none=True)
    rating = ma.fields.String(
        load_default=None, allow_none=True, metadata={"enum": list(RATING_VALUES)}
    )


class LeadRecordSchema(RecordFields, LeadInputSchema):
    """A lead as the API returns it (with what it was converted into)."""

    status = ma.fields.String()
    converted_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    converted_company_id = ma.fields.UUID(dump_only=True, allow_none=True)
    converted_contact_id = ma.fields.UUID(dump_only=True, allow_none=True)
    converted_deal_id = ma.fields.UUID(dump_only=True, allow_none=True)


class LeadListArgs(ListArgs):
    status = ma.fields.String(
        load_default=None,
        metadata={"description": 'Only leads with this status ("open": not yet decided).'},
    )
    owner_id = ma.fields.UUID(
        load_default=None, metadata={"description": "Only the leads of this owner."}
    )
    unassigned = ma.fields.Boolean(
        load_default=False, metadata={"description": "Only the leads with no owner."}
    )


LeadPageSchema = page_schema("LeadPageSchema", LeadRecordSchema)
_BODY = {"required": True, "content": {"application/json": {"schema": LeadInputSchema}}}
_CONVERT_BODY = {"required": False, "content": {"application/json": {"schema": ConvertSchema}}}


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("LeadInput", schema=LeadInputSchema)
    spec.components.schema("Lead", schema=LeadRecordSchema)
    spec.components.schema("LeadPage", schema=LeadPageSchema)
    spec.components.schema("LeadConversion", schema=ConvertSchema)


_REPRESENTATION = LeadRecordSchema()  # built once: building a schema costs more than a dump


def represent(lead: Lead) -> dict[str, Any]:
    return _REPRESENTATION.dump(lead)


def _locked(session: Session, lead_id: uuid.UUID) -> Lead:
    return queries.get_lead(session, lead_id, for_update=True)


def _check_owner(body: dict[str, Any]) -> None:
    """An owner named in the body must be a member of this workspace."""
    owner = body.get("owner_id") if isinstance(body, dict) else None
    if not owner:
        return
    ids = {str(user.id) for _m, user in members.members_of(current_tenant().id)}
    if str(owner) not in ids:
        raise ValidationFailed({"owner_id": ["Choose an owner who is a member of this workspace."]})


def custom_filters() -> dict[str, str]:
    return {
        key.removeprefix("custom."): value
        for key, value in request.args.items()
        if key.startswith("custom.")
    }


@blp.route("")
class Leads(MethodView):
    @blp.arguments(LeadListArgs, location="query")
    @blp.response(200, LeadPageSchema)
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List leads"""
        page, sort = queries.list_leads(
            tenant_db(),
            q=args["q"],
            status=args["status"],
            owner_id=args["owner_id"],
            unassigned=args["unassigned"],
            sort=args["sort"],
            cursor=args["cursor"],
            limit=args["limit"],
            custom=custom_filters(),
        )
        return page_body(page, sort, page.items)

    @blp.doc(requestBody=_BODY)
    @blp.response(201, LeadRecordSchema)
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Create a lead (without an owner, the assignment rules choose one)"""
        body = errors.json_body()
        if isinstance(body, dict):
            body.setdefault("source", "api")
        _check_owner(body)
        lead = services.create_lead(tenant_db(), body)
        return record_response(represent(lead), 201)


@blp.route("/<uuid:lead_id>")
class LeadById(MethodView):
    @blp.response(200, LeadRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a lead"""
        lead = queries.get_lead(tenant_db(), lead_id)
        return record_response(represent(lead))

    @blp.doc(requestBody=_BODY)
    @blp.response(200, LeadRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(409, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Change some fields of a lead (a converted lead no longer changes)"""
        session = tenant_db()
        check_if_match(represent(_locked(session, lead_id)))
        body = errors.json_body()
        _check_owner(body)
        lead = services.update_lead(session, lead_id, body, partial=True)
        return record_response(represent(lead))

    @blp.response(204)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    def delete(self, lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete a lead (what it was converted into stays)"""
        session = tenant_db()
        check_if_match(represent(_locked(session, lead_id)))
        services.delete_lead(session, lead_id)


@blp.route("/<uuid:lead_id>/convert", methods=["POST"])
@blp.doc(requestBody=_CONVERT_BODY)
@blp.response(200, LeadRecordSchema)
@blp.alt_response(404, response="DEFAULT_ERROR")
@blp.alt_response(409, response="DEFAULT_ERROR")
@blp.alt_response(412, response="DEFAULT_ERROR")
@blp.alt_response(422, response="DEFAULT_ERROR")
def convert(lead_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Convert a lead into a company (new, existing or none), a contact and optionally a deal"""
    session = tenant_db()
    check_if_match(represent(_locked(session, lead_id)))
    body = errors.json_body() if request.get_data() else {}
    choice = load(ConvertSchema(), body)
    lead = services.convert_lead(
        session, lead_id, company=choice["company"], contact=choice["contact"], deal=choice["deal"]
    )
    return record_response(represent(lead))

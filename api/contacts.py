"""Contacts over REST: list, read, create, change, delete, through the web's services."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy.orm import Session

from rapport.api import errors
from rapport.api.auth import api_blueprint
from rapport.api.companies import custom_filters
from rapport.api.records import ListArgs, check_if_match, etag_header, page_body, page_schema
from rapport.platform.db import get_or_not_found
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.contacts import queries, services
from rapport.tenants.contacts.models import Contact
from rapport.tenants.contacts.schemas import ContactSchema

blp = api_blueprint(
    "api_contacts", __name__, url_prefix="/api/v1/contacts", description="Contacts (people)."
)


class ContactRecordSchema(ContactSchema):
    """A contact as the API returns it."""

    id = ma.fields.UUID(dump_only=True)
    custom = ma.fields.Dict(
        dump_default=dict, metadata={"description": "Custom fields (see this schema's properties)."}
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class ContactListArgs(ListArgs):
    company_id = ma.fields.UUID(
        load_default=None, metadata={"description": "Only the contacts of this company."}
    )


ContactPageSchema = page_schema("ContactPageSchema", ContactRecordSchema)
_BODY = {"required": True, "content": {"application/json": {"schema": ContactSchema}}}


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("ContactInput", schema=ContactSchema)
    spec.components.schema("Contact", schema=ContactRecordSchema)
    spec.components.schema("ContactPage", schema=ContactPageSchema)


def represent(contact: Contact) -> dict[str, Any]:
    return ContactRecordSchema().dump(contact)


def _locked(session: Session, contact_id: uuid.UUID) -> Contact:
    return get_or_not_found(session, Contact, contact_id, "contact", for_update=True)


@blp.route("")
class Contacts(MethodView):
    @blp.arguments(ContactListArgs, location="query")
    @blp.response(200, ContactPageSchema)
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List contacts"""
        page, sort = queries.list_contacts(
            tenant_db(),
            custom=custom_filters(),
            q=args["q"],
            sort=args["sort"],
            cursor=args["cursor"],
            company_id=args["company_id"],
            limit=args["limit"],
        )
        return page_body(page, sort, [contact for contact, _company in page.items])

    @blp.doc(requestBody=_BODY)
    @blp.response(201, ContactRecordSchema)
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Create a contact"""
        contact = services.create_contact(tenant_db(), errors.json_body())
        return contact, etag_header(represent(contact))


@blp.route("/<uuid:contact_id>")
class ContactById(MethodView):
    @blp.response(200, ContactRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a contact"""
        contact = queries.get_contact(tenant_db(), contact_id)
        return contact, etag_header(represent(contact))

    @blp.doc(requestBody=_BODY)
    @blp.response(200, ContactRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Change some fields of a contact"""
        session = tenant_db()
        check_if_match(represent(_locked(session, contact_id)))
        contact = services.update_contact(session, contact_id, errors.json_body(), partial=True)
        return contact, etag_header(represent(contact))

    @blp.response(204)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    def delete(self, contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete a contact"""
        session = tenant_db()
        check_if_match(represent(_locked(session, contact_id)))
        services.delete_contact(session, contact_id)

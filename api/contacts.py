"""Contacts over REST: list, read, create, change, delete, through the web's services."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.api import errors
from rapport.api.auth import api_blueprint
from rapport.api.companies import custom_filters
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
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies.schemas import plain_text
from rapport.tenants.contacts import queries, services
from rapport.tenants.contacts.models import Contact
from rapport.tenants.contacts.schemas import (
    CompanyLinkSchema,
    ContactSchema,
    EmailItemSchema,
    PhoneItemSchema,
)
from rapport.tenants.fields.filters import filter_clause

blp = api_blueprint(
    "api_contacts", __name__, url_prefix="/api/v1/contacts", description="Contacts (people)."
)


class ContactRecordSchema(RecordFields, ContactSchema):
    """A contact as the API returns it."""

    emails = ma.fields.List(
        ma.fields.Nested(EmailItemSchema),
        metadata={"description": "Every address, primary first (the primary one is `email`)."},
    )
    phones = ma.fields.List(
        ma.fields.Nested(PhoneItemSchema),
        metadata={"description": "Every number, primary first (the primary one is `phone`)."},
    )
    companies = ma.fields.List(
        ma.fields.Nested(CompanyLinkSchema),
        metadata={"description": "Further companies besides `company_id`, with the role there."},
    )


class Full:
    """A contact with its lists of emails, phones and further companies, for the schema to dump."""

    def __init__(self, session: Session, contact: Contact, lists: Any = None) -> None:
        self._contact = contact
        if lists is None:
            lists = queries.lists_of(session, [contact])
        self.emails, self.phones, links = lists.get(contact.id, ([], [], []))
        self.companies = [{"company_id": company_id, "role": role} for company_id, role in links]

    @classmethod
    def many(cls, session: Session, contacts: list[Contact]) -> list[Full]:
        """Several contacts, their lists read in three queries whatever their number."""
        lists = queries.lists_of(session, contacts)
        return [cls(session, contact, lists) for contact in contacts]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._contact, name)


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


_REPRESENTATION = ContactRecordSchema()  # built once: building a schema costs more than a dump


def represent(contact: Contact | Full) -> dict[str, Any]:
    if isinstance(contact, Contact):
        contact = Full(tenant_db(), contact)
    return _REPRESENTATION.dump(contact)


def _locked(session: Session, contact_id: uuid.UUID) -> Contact:
    return get_or_not_found(session, Contact, contact_id, "contact", for_update=True)


@blp.route("")
class Contacts(MethodView):
    @blp.arguments(ContactListArgs, location="query")
    @blp.doc(**FILTERS_DOC)
    @blp.response(200, ContactPageSchema)
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List contacts (search, company, filter[<field>][<op>], sort by any field)"""
        session = tenant_db()
        stmt = select(Contact)
        for api_name, value in custom_filters().items():
            stmt = stmt.where(filter_clause(session, "contacts", api_name, value))
        q = plain_text(args["q"] or "").strip()
        if q:
            stmt = stmt.where(queries.search_filter(q))
        if args["company_id"]:
            stmt = stmt.where(Contact.company_id == args["company_id"])
        page, sort = record_page(
            session, "contacts", stmt, Contact.id, args, default_sort=queries.DEFAULT_SORT
        )
        return page_body(page, sort, Full.many(session, page.items))

    @blp.doc(requestBody=_BODY)
    @blp.response(201, ContactRecordSchema)
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Create a contact"""
        session = tenant_db()
        contact = Full(session, services.create_contact(session, errors.json_body()))
        return record_response(represent(contact), 201)


@blp.route("/<uuid:contact_id>")
class ContactById(MethodView):
    @blp.response(200, ContactRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a contact"""
        session = tenant_db()
        contact = Full(session, queries.get_contact(session, contact_id))
        return record_response(represent(contact))

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
        full = Full(session, contact)
        return record_response(represent(full))

    @blp.response(204)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    def delete(self, contact_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete a contact"""
        session = tenant_db()
        check_if_match(represent(_locked(session, contact_id)))
        services.delete_contact(session, contact_id)

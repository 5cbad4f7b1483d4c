"""Screen-pop lookup for call-centre systems: who is calling, and for which company.

The matching rule for phone numbers is documented in ``rapport.tenants.lookup``.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from rapport.api.auth import api_blueprint
from rapport.api.companies import CompanyRecordSchema
from rapport.api.contacts import ContactRecordSchema, Full
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import lookup

blp = api_blueprint(
    "api_lookup",
    __name__,
    url_prefix="/api/v1/lookup",
    description="Find the contact and company behind a phone number or an email address.",
)


class LookupArgs(ma.Schema):
    """Exactly one of phone or email."""

    class Meta:
        unknown = ma.EXCLUDE

    phone = ma.fields.String(
        validate=ma.validate.Length(min=1, max=50),
        metadata={"description": "Any format: +86 10-1234 5678, (010) 1234-5678, 01012345678."},
    )
    email = ma.fields.String(
        validate=ma.validate.Length(min=1, max=320),
        metadata={"description": "Compared without regard to case."},
    )

    @ma.validates_schema
    def _one_of(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if ("phone" in data) == ("email" in data):
            raise ma.ValidationError("Give either phone or email.", "_schema")


class LookupContactSchema(ContactRecordSchema):
    """A matching contact with their company (null when they have none)."""

    company = ma.fields.Nested(CompanyRecordSchema, allow_none=True, dump_only=True)


class LookupResultSchema(ma.Schema):
    contacts = ma.fields.List(ma.fields.Nested(LookupContactSchema), required=True)
    companies = ma.fields.List(
        ma.fields.Nested(CompanyRecordSchema),
        required=True,
        metadata={"description": "Companies whose own number matches (phone lookups only)."},
    )


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("LookupResult", schema=LookupResultSchema)


@blp.route("", methods=["GET"])
@blp.arguments(LookupArgs, location="query")
@blp.response(200, LookupResultSchema)
def find(args: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Find contacts (with their company) by phone number or email address"""
    session = tenant_db()
    if "phone" in args:
        contacts = lookup.contacts_by_phone(session, args["phone"])
        companies = lookup.companies_by_phone(session, args["phone"])
    else:
        contacts = lookup.contacts_by_email(session, args["email"])
        companies = []
    by_id = lookup.companies_of(session, contacts)
    items = [_WithCompany(c, by_id.get(c.company_id)) for c in Full.many(session, contacts)]
    return {"contacts": items, "companies": companies}


class _WithCompany:
    """A contact that also answers ``company``, for the schema to dump."""

    def __init__(self, contact: Any, company: Any) -> None:
        self._contact = contact
        self.company = company

    def __getattr__(self, name: str) -> Any:
        return getattr(self._contact, name)

"""Marshmallow schemas for contacts: the one place their input is validated (web and API)."""

from __future__ import annotations

from marshmallow import fields, validate

from rapport.tenants.companies.schemas import RecordSchema, optional_text, validate_phone

#: The fields a person edits, in form order; the audit diff covers exactly these.
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "title", "company_id")


class ContactSchema(RecordSchema):
    """A contact as written by a person or an integration."""

    first_name = optional_text(100)
    # Like most CRMs, only the last name is required: it also holds a single-word name.
    last_name = fields.String(
        required=True,
        validate=validate.Length(max=100, error="Use at most {max} characters."),
        error_messages={"required": "Enter a last name.", "null": "Enter a last name."},
    )
    email = fields.Email(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=320, error="Use at most {max} characters."),
        error_messages={"invalid": "Enter an email address such as ada@example.com."},
    )
    phone = optional_text(50, validators=[validate_phone])
    title = optional_text(150)
    company_id = fields.UUID(
        load_default=None,
        allow_none=True,
        error_messages={"invalid_uuid": "Choose a company from the list."},
    )

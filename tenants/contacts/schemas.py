"""Marshmallow schemas for contacts: the one place their input is validated (web and API)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from rapport.tenants.companies.schemas import (
    RecordSchema,
    flag,
    optional_text,
    validate_phone,
)

#: The fields a person edits, in form order; the audit diff covers exactly these.
CONTACT_FIELDS = (
    "first_name", "last_name", "email", "phone", "title", "department", "company_id",
    "do_not_call", "do_not_email", "owner_id",
)  # fmt: skip
#: Lists of further values, each with a label and one primary.
MAX_ITEMS = 20


def _email_field(**kwargs: Any) -> fields.Email:
    return fields.Email(
        validate=validate.Length(max=320, error="Use at most {max} characters."),
        error_messages={
            "invalid": "Enter an email address such as ada@example.com.",
            "required": "Enter an email address.",
            "null": "Enter an email address.",
        },
        **kwargs,
    )


class EmailItemSchema(RecordSchema):
    """One of a contact's email addresses."""

    email = _email_field(required=True)
    label = optional_text(50)
    is_primary = flag()


class PhoneItemSchema(RecordSchema):
    """One of a contact's phone numbers."""

    phone = fields.String(
        required=True,
        validate=[validate.Length(max=50, error="Use at most {max} characters."), validate_phone],
        error_messages={"required": "Enter a phone number.", "null": "Enter a phone number."},
    )
    label = optional_text(50)
    is_primary = flag()


class CompanyLinkSchema(RecordSchema):
    """A further company the contact works with, and their role there."""

    company_id = fields.UUID(
        required=True,
        error_messages={
            "required": "Choose a company.",
            "null": "Choose a company.",
            "invalid_uuid": "Choose a company from the list.",
        },
    )
    role = optional_text(100)


def _one_primary(items: list[dict[str, Any]], key: str) -> None:
    if sum(1 for item in items if item.get("is_primary")) > 1:
        raise ValidationError(["Mark one of them as primary, not several."], key)
    values = [str(item[key.removesuffix("s")]).lower() for item in items]
    if len(values) != len(set(values)):
        raise ValidationError(["Each one may appear only once."], key)


class ContactSchema(RecordSchema):
    """A contact as written by a person or an integration.

    ``email`` and ``phone`` are the primary ones. ``emails`` / ``phones``, when sent, replace the
    whole list (the primary item becomes ``email`` / ``phone``); when left out, the list keeps its
    other items and its primary follows ``email`` / ``phone``.
    """

    first_name = optional_text(100)
    # Like most CRMs, only the last name is required: it also holds a single-word name.
    last_name = fields.String(
        required=True,
        validate=validate.Length(max=100, error="Use at most {max} characters."),
        error_messages={"required": "Enter a last name.", "null": "Enter a last name."},
    )
    email = _email_field(load_default=None, allow_none=True)
    phone = optional_text(50, validators=[validate_phone])
    title = optional_text(150)
    department = optional_text(150)
    company_id = fields.UUID(
        load_default=None,
        allow_none=True,
        error_messages={"invalid_uuid": "Choose a company from the list."},
    )
    do_not_call = flag()
    do_not_email = flag()
    owner_id = fields.UUID(
        load_default=None,
        allow_none=True,
        error_messages={"invalid_uuid": "Choose an owner from the list."},
    )
    emails = fields.List(
        fields.Nested(EmailItemSchema),
        validate=validate.Length(max=MAX_ITEMS, error="Keep at most {max} addresses."),
    )
    phones = fields.List(
        fields.Nested(PhoneItemSchema),
        validate=validate.Length(max=MAX_ITEMS, error="Keep at most {max} numbers."),
    )
    companies = fields.List(
        fields.Nested(CompanyLinkSchema),
        validate=validate.Length(max=MAX_ITEMS, error="Link at most {max} companies."),
    )

    @validates_schema
    def _lists(self, data: dict[str, Any], **_kwargs: Any) -> None:
        for key in ("emails", "phones"):
            if data.get(key):
                _one_primary(data[key], key)
        links = [str(link["company_id"]) for link in data.get("companies") or []]
        if len(links) != len(set(links)):
            raise ValidationError(["Link each company once."], "companies")

    @post_load
    def _flags_default_to_no(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        for key in ("do_not_call", "do_not_email"):
            if key in data and data[key] is None:
                data[key] = False
        for key, item_key in (("emails", "email"), ("phones", "phone")):
            items = data.get(key)
            if items is None:
                continue
            if items and not any(item.get("is_primary") for item in items):
                items[0]["is_primary"] = True
            primary = next((item for item in items if item.get("is_primary")), None)
            # The primary item and the scalar are one value: the list wins when both are sent.
            data[item_key] = primary[item_key] if primary else None
        return data

"""Marshmallow schemas for leads: the one place their input is validated (web, API, form).

Ratings are constants; statuses, sources and industries are the tenant's picklists, checked by
the lead service (rapport.tenants.picklists).
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from rapport.tenants.companies.schemas import (
    RecordSchema,
    optional_text,
    validate_country,
    validate_phone,
)

#: (value, label) pairs, in the order people see them.
RATINGS = (("hot", "Hot"), ("warm", "Warm"), ("cold", "Cold"))
RATING_VALUES = tuple(v for v, _ in RATINGS)

#: The fields a person edits, in form order; the audit diff covers exactly these.
LEAD_FIELDS = (
    "first_name", "last_name", "company_name", "title", "email", "phone", "website", "industry",
    "country", "region", "city", "source", "status", "rating", "owner_id", "team_id",
    "description",
)  # fmt: skip
#: What the public capture form accepts (everything else a visitor posts is ignored).
PUBLIC_FIELDS = (
    "first_name", "last_name", "company_name", "title", "email", "phone", "website", "country",
    "city", "description",
)  # fmt: skip


def _choice(values: tuple[str, ...], message: str) -> validate.OneOf:
    return validate.OneOf(values, error=message)


class LeadSchema(RecordSchema):
    """A lead as written by a person, an integration or a visitor of the public form."""

    first_name = optional_text(100)
    last_name = optional_text(100)
    company_name = optional_text(200)
    title = optional_text(150)
    email = fields.Email(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=320, error="Use at most {max} characters."),
        error_messages={"invalid": "Enter an email address such as ada@example.com."},
    )
    phone = optional_text(50, validators=[validate_phone])
    website = fields.URL(
        load_default=None,
        allow_none=True,
        schemes={"http", "https"},
        require_tld=True,
        validate=validate.Length(max=300, error="Use at most {max} characters."),
        error_messages={"invalid": "Enter a web address such as https://example.com."},
    )
    industry = optional_text(100)
    country = optional_text(2, validators=[validate_country])
    region = optional_text(100)
    city = optional_text(100)
    # Checked against the tenant's picklists by the lead service (they are tenant data).
    source = fields.String(load_default=None, allow_none=True)
    status = fields.String(load_default="new")
    rating = fields.String(
        load_default=None,
        allow_none=True,
        validate=_choice(RATING_VALUES, "Choose a rating from the list."),
    )
    owner_id = fields.UUID(
        load_default=None,
        allow_none=True,
        error_messages={"invalid_uuid": "Choose an owner from the list."},
    )
    team_id = fields.UUID(
        load_default=None,
        allow_none=True,
        error_messages={"invalid_uuid": "Choose a team from the list."},
    )
    description = optional_text(10_000)

    @pre_load
    def _normalise(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        website = data.get("website")
        if isinstance(website, str) and website.strip() and "://" not in website:
            data["website"] = "https://" + website.strip()
        for key in ("country", "source", "status", "rating"):
            value = data.get(key)
            if isinstance(value, str):
                value = value.strip()
                data[key] = value.upper() if key == "country" else value.lower()
        if data.get("status") in ("", None) and "status" in data:
            data.pop("status")  # blank means the default ("new"), not "no status"
        return data

    @validates_schema(skip_on_field_errors=False)
    def _someone(self, data: dict[str, Any], partial: Any = None, **_kwargs: Any) -> None:
        if partial:
            return
        if not (data.get("last_name") or data.get("company_name")):
            raise ValidationError(
                "Enter a last name or a company name (or both).", field_name="last_name"
            )


class ConvertDealSchema(RecordSchema):
    """The deal a conversion may open (its own validation stays in the deal service)."""

    name = fields.String(load_default=None, allow_none=True)
    amount = fields.Raw(load_default=None, allow_none=True)
    currency = fields.String(load_default=None, allow_none=True)
    pipeline_id = fields.Raw(load_default=None, allow_none=True)
    stage_id = fields.Raw(load_default=None, allow_none=True)


class ConvertSchema(RecordSchema):
    """What a lead becomes: a new or existing company (or none), contact, and maybe a deal."""

    company = fields.String(
        load_default="new",
        allow_none=True,
        metadata={"description": '"new", an existing company id, or null for no company.'},
    )
    contact = fields.String(
        load_default="new",
        metadata={"description": '"new" or an existing contact id.'},
    )
    deal = fields.Nested(ConvertDealSchema, load_default=None, allow_none=True)

"""Marshmallow schemas for deals: the one place their input is validated (web and API)."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

from babel.numbers import list_currencies
from marshmallow import ValidationError, fields, pre_load, validate

from rapport.tenants.companies.schemas import RecordSchema, optional_text

#: The fields a person edits, in form order; the audit diff covers exactly these.
DEAL_FIELDS = ("name", "company_id", "amount", "currency", "expected_close_date", "owner_id")
MAX_AMOUNT = Decimal("9999999999999999.99")  # what Numeric(18, 2) holds


@cache
def currency_codes() -> frozenset[str]:
    """ISO 4217 currency codes (CLDR's list)."""
    return frozenset(code for code in list_currencies() if len(code) == 3 and code.isalpha())


def validate_currency(value: str) -> None:
    if value not in currency_codes():
        raise ValidationError("Use a three-letter ISO 4217 currency code, such as EUR or USD.")


class DealSchema(RecordSchema):
    """A deal as written by a person or an integration."""

    name = fields.String(
        required=True,
        validate=validate.Length(max=200, error="Use at most {max} characters."),
        error_messages={"required": "Enter the deal's name.", "null": "Enter the deal's name."},
    )
    company_id = fields.UUID(
        load_default=None,
        allow_none=True,
        error_messages={"invalid_uuid": "Choose a company from the list."},
    )
    amount = fields.Decimal(
        load_default=None,
        allow_none=True,
        places=2,
        validate=validate.Range(
            min=Decimal(0), max=MAX_AMOUNT, error="Enter an amount from 0 to {max}."
        ),
        error_messages={
            "invalid": "Enter an amount such as 1250.00.",
            "special": "Enter an amount such as 1250.00.",
        },
    )
    currency = fields.String(
        required=True,
        validate=validate_currency,
        error_messages={
            "required": "Choose the deal's currency.",
            "null": "Choose the deal's currency.",
        },
    )
    expected_close_date = fields.Date(
        load_default=None,
        allow_none=True,
        error_messages={"invalid": "Enter a date such as 2026-06-30."},
    )
    owner_id = fields.UUID(
        load_default=None,
        allow_none=True,
        error_messages={"invalid_uuid": "Choose an owner from the list."},
    )
    pipeline_id = fields.UUID(
        load_default=None,
        allow_none=True,
        error_messages={"invalid_uuid": "Choose a pipeline from the list."},
    )
    stage_id = fields.UUID(
        load_default=None,
        allow_none=True,
        error_messages={"invalid_uuid": "Choose a stage from the list."},
    )

    @pre_load
    def _normalise(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        currency = data.get("currency")
        if isinstance(currency, str):
            data["currency"] = currency.strip().upper()
        amount = data.get("amount")
        # People type thousands separators and spaces ("12 500", "12,500.00").
        if isinstance(amount, str):
            data["amount"] = amount.replace(",", "").replace(" ", "").replace("\u00a0", "")
        return data


class MoveSchema(RecordSchema):
    """A stage move: the target stage, where in its column, and why, when the deal was lost."""

    stage_id = fields.UUID(
        required=True,
        error_messages={
            "required": "Choose a stage.",
            "null": "Choose a stage.",
            "invalid_uuid": "Choose a stage from the list.",
        },
    )
    position = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(0))
    lost_reason = optional_text(300)


class DealContactSchema(RecordSchema):
    """A contact's part in a deal."""

    contact_id = fields.UUID(
        required=True,
        error_messages={
            "required": "Choose a contact.",
            "null": "Choose a contact.",
            "invalid_uuid": "Choose a contact from the list.",
        },
    )
    role = optional_text(100)

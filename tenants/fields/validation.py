"""The one validator of custom field values, used by every write path (web forms, API, services).

Values arrive as form strings or JSON; each is coerced to its stored JSON form:
text, long_text, email, phone, url, single_select, user, lookup (a record's id) -> str;
integer -> int; decimal and percent -> str (exact decimal text); currency -> {"amount": str,
"currency": str}; date and datetime -> ISO 8601 text (datetimes in UTC); checkbox -> bool;
multi_select -> [str].
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError
from marshmallow.validate import URL, Email
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.platform.db import db
from rapport.platform.errors import ValidationFailed
from rapport.platform.identity.models import Membership
from rapport.tenants.companies.schemas import plain_text, validate_phone
from rapport.tenants.deals.schemas import currency_codes
from rapport.tenants.fields import lookup
from rapport.tenants.fields.queries import Field, fields_for
from rapport.tenants.roles import access

TYPES = (
    "text", "long_text", "integer", "decimal", "percent", "currency", "date", "datetime",
    "checkbox", "single_select", "multi_select", "email", "phone", "url", "user", "lookup",
    "formula", "rollup",
)  # fmt: skip
TYPE_LABELS = {
    "text": "Text", "long_text": "Long text", "integer": "Whole number", "decimal": "Decimal",
    "percent": "Percent", "currency": "Currency amount", "date": "Date",
    "datetime": "Date and time",
    "checkbox": "Checkbox", "single_select": "Single select", "multi_select": "Multi select",
    "email": "Email", "phone": "Phone", "url": "Web address", "user": "Member",
    "lookup": "Record lookup", "formula": "Formula", "rollup": "Roll-up",
}  # fmt: skip
#: Types whose values are calculated (see formula.py, rollup.py), never written.
COMPUTED = ("formula", "rollup")
NUMERIC = ("integer", "decimal", "percent", "currency")
TEXTUAL = ("text", "long_text", "email", "phone", "url")
SELECTS = ("single_select", "multi_select")
#: Types whose value is one scalar, so an expression index (unique or filter) can cover it.
INDEXABLE = ("text", "integer", "decimal", "percent", "date", "datetime", "checkbox",
             "single_select", "email", "phone", "url", "user", "lookup", "formula",
             "rollup")  # fmt: skip
DEFAULT_MAX_LENGTH = {"text": 255, "long_text": 10_000, "email": 320, "phone": 50, "url": 2000}
_TRUE = {"1", "true", "on", "yes", "y"}
_FALSE = {"", "0", "false", "off", "no", "n"}
_email = Email(error="Enter an email address such as ada@example.com.")
_url = URL(
    schemes={"http", "https"},
    require_tld=True,
    error="Enter a web address such as https://example.com.",
)


class Invalid(Exception):
    """One value broke one rule (the message names it)."""


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _number(value: Any, field: Field, whole: bool) -> Decimal:
    if isinstance(value, bool):
        raise Invalid("Enter a whole number." if whole else "Enter a number such as 12.5.")
    try:
        text = value.strip().replace(",", "").replace(" ", "") if isinstance(value, str) else value
        number = Decimal(str(text)) if not isinstance(text, Decimal) else text
    except (InvalidOperation, ValueError):
        raise Invalid(
            "Enter a whole number." if whole else "Enter a number such as 12.5."
        ) from None
    if not number.is_finite() or abs(number) >= Decimal(10) ** 18:
        raise Invalid("Enter a number of fewer than 18 digits.")
    if whole and number != number.to_integral_value():
        raise Invalid("Enter a whole number.")
    if field.min_value is not None and number < field.min_value:
        raise Invalid(f"Enter at least {_plain(field.min_value)} (minimum).")
    if field.max_value is not None and number > field.max_value:
        raise Invalid(f"Enter at most {_plain(field.max_value)} (maximum).")
    return number


def _plain(number: Decimal) -> str:
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _text(value: Any, field: Field) -> str:
    if not isinstance(value, str):
        raise Invalid("Enter text.")
    if plain_text(value) != value and field.type != "long_text":
        raise Invalid("Remove the control characters from this field.")
    value = value.strip() if field.type != "long_text" else value.strip("\r\n ").replace("\x00", "")
    max_length = field.max_length or DEFAULT_MAX_LENGTH[field.type]
    if len(value) > max_length:
        raise Invalid(f"Use at most {max_length} characters (maximum length).")
    if field.min_length and len(value) < field.min_length:
        raise Invalid(f"Use at least {field.min_length} characters (minimum length).")
    if field.pattern and not re.fullmatch(field.pattern, value):
        raise Invalid(f"Enter a value matching the pattern {field.pattern}.")
    return value


def _option(value: Any, field: Field, old: set[str]) -> str:
    if not isinstance(value, str) or value not in field.option_values():
        raise Invalid("Choose one of the options.")
    if value not in field.option_values(include_retired=False) and value not in old:
        raise Invalid(f"The option “{field.option_label(value)}” is retired; choose another.")
    return value


def _user(value: Any, tenant_id: uuid.UUID) -> str:
    try:
        user_id = uuid.UUID(str(value))
    except ValueError:
        raise Invalid("Choose a member of this workspace.") from None
    found = db.session.scalar(
        select(Membership.id).where(
            Membership.tenant_id == tenant_id,
            Membership.user_id == user_id,
            Membership.active.is_(True),
        )
    )
    if found is None:
        raise Invalid("Choose a member of this workspace.")
    return str(user_id)


def coerce(
    field: Field,
    value: Any,
    *,
    old: Any = None,
    tenant_id: uuid.UUID | None = None,
    session: Session | None = None,
) -> Any:
    """The stored form of one non-blank value, or Invalid naming the broken rule.

    A lookup reads its target through ``session`` (the acting member's visibility applies).
    """
    kind = field.type
    if kind in ("text", "long_text"):
        return _text(value, field)
    if kind == "email":
        text = _text(value, field)
        try:
            _email(text)
        except ValidationError as exc:
            raise Invalid(str(exc.messages[0])) from None
        local, _, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}"
    if kind == "phone":
        text = _text(value, field)
        try:
            validate_phone(text)
        except ValidationError as exc:
            raise Invalid(str(exc.messages[0])) from None
        return text
    if kind == "url":
        text = _text(value, field)
        if "://" not in text:
            text = "https://" + text
        try:
            _url(text)
        except ValidationError as exc:
            raise Invalid(str(exc.messages[0])) from None
        return text
    if kind == "integer":
        return int(_number(value, field, whole=True))
    if kind in ("decimal", "percent"):
        return _plain(_number(value, field, whole=False))
    if kind == "currency":
        if isinstance(value, str):
            amount, _, code = value.strip().rpartition(" ")
            value = {"amount": amount, "currency": code}
        if not isinstance(value, Mapping) or _blank(value.get("amount")):
            raise Invalid("Enter an amount and a currency, such as 1250.00 EUR.")
        code = str(value.get("currency") or "").strip().upper()
        if code not in currency_codes():
            raise Invalid("Use a three-letter ISO 4217 currency code, such as EUR or USD.")
        number = _number(value["amount"], field, whole=False)
        return {"amount": format(number.quantize(Decimal("0.01")), "f"), "currency": code}
    if kind == "date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise Invalid("Enter a date such as 2026-06-30.") from None
    if kind == "datetime":
        try:
            moment = (
                value
                if isinstance(value, dt.datetime)
                else dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
            )
        except ValueError:
            raise Invalid("Enter a date and time such as 2026-06-30T14:00:00Z.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)  # form inputs carry no zone: read them as UTC
        return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if kind == "checkbox":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise Invalid("Tick the box or leave it empty.")
    if kind == "single_select":
        return _option(value, field, {old} if isinstance(old, str) else set())
    if kind == "multi_select":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise Invalid("Choose options from the list.")
        before = set(old) if isinstance(old, list) else set()
        chosen = [_option(item, field, before) for item in items if not _blank(item)]
        return list(dict.fromkeys(chosen))  # keep the first of duplicates, in order
    if kind == "user":
        assert tenant_id is not None
        return _user(value, tenant_id)
    if kind == "lookup":
        if session is not None:
            try:
                return lookup.check(session, field, value, old=old)
            except lookup.NotChosen:
                pass
        raise Invalid(f"Choose a {lookup.singular(field)} from the list.")
    raise Invalid("This field's type cannot take values here.")


def validate_custom(
    session: Session,
    record_type: str,
    values: Mapping[str, Any] | None,
    *,
    existing: Mapping[str, Any] | None = None,
    partial: bool = False,
) -> dict[str, Any]:
    """The record's new ``custom`` dict, or ValidationFailed keyed ``custom.<api_name>``.

    ``existing`` is the record's current ``custom`` (None for a new record). Values of archived
    fields are kept but cannot be written; a field left out keeps its value when ``partial``,
    and is cleared otherwise (a form sends every field it shows).
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ValidationFailed({"custom": ["Send the custom fields as an object."]})
    tenant_id = session.info["tenant"].id
    fields = {f.api_name: f for f in fields_for(session, record_type, archived=True)}
    result = dict(existing or {})
    errors: dict[str, list[str]] = {}
    for name in values:
        field = fields.get(name)
        if field is None or field.archived:
            errors[f"custom.{name}"] = [f"There is no custom field “{name}” on {record_type}."]
        elif field.computed:
            what = "a formula" if field.type == "formula" else "a roll-up"
            errors[f"custom.{name}"] = [
                f"“{field.label}” is calculated ({what}); it cannot be set. Leave it out."
            ]
    # Fields the acting role may not change keep their value when left out, as in a partial
    # write: a form does not offer them (a value sent for one is refused when it is written).
    locked = access.read_only(session, record_type)
    for name, field in fields.items():
        if field.archived or field.computed:
            continue
        key = f"custom.{name}"
        if name in values:
            raw = values[name]
        elif partial or (name in locked and (existing is not None or field.default is None)):
            continue
        elif existing is None and field.default is not None:
            raw = field.default
        else:
            raw = None
        if field.type == "checkbox" and raw is None and not partial:
            raw = False
        try:
            value = (
                None
                if _blank(raw)
                else coerce(field, raw, old=result.get(name), tenant_id=tenant_id, session=session)
            )
        except Invalid as exc:
            errors[key] = [str(exc)]
            continue
        if field.required and (value is None or value is False or value == []):
            errors[key] = ["This field is required."]
            continue
        if value is None or value == []:
            result.pop(name, None)
        else:
            result[name] = value
    if errors:
        raise ValidationFailed(errors)
    return result


def storage_field(field: Field) -> Field:
    """The field as the type its stored values have (a formula's by its result type)."""
    if field.type == "rollup":
        return dataclasses.replace(field, type="decimal", min_value=None, max_value=None)
    if field.type == "formula":
        result = (field.config or {}).get("result_type", "text")
        kind = {"number": "decimal", "currency": "currency"}.get(result, result)
        return dataclasses.replace(
            field, type=kind, min_value=None, max_value=None, max_length=10_000, pattern=None
        )
    return field


def display(field: Field, value: Any) -> str:
    """A stored value as people read it."""
    if value is None or value == []:
        return "—"
    field = storage_field(field)
    if field.type == "checkbox":
        return "Yes" if value else "No"
    if field.type == "currency" and isinstance(value, Mapping):
        return f"{value.get('amount')} {value.get('currency')}"
    if field.type == "percent":
        return f"{value} %"
    if field.type == "single_select":
        return field.option_label(value)
    if field.type == "multi_select" and isinstance(value, list):
        return ", ".join(field.option_label(v) for v in value)
    return str(value)

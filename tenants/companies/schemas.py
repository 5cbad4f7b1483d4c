"""Marshmallow schemas for companies: the one place their input is validated (web and API)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from babel import Locale
from marshmallow import Schema, ValidationError, fields, post_load, pre_load, validate

from rapport.platform.errors import ValidationFailed

# CLDR territories that are not ISO 3166-1 alpha-2 codes (regions, groupings, pseudo-locales,
# user-assigned codes); what remains is exactly the 249 officially assigned codes.
_NOT_ISO_3166 = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"}
)
_PHONE_CHARS = re.compile(r"^[0-9+()./\-\s]+(?:\s*(?:ext\.?|x)\s*[0-9]+)?$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DOMAIN = re.compile(r"^(?=.{1,255}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")

#: The fields a person edits, in form order; the audit diff covers exactly these.
COMPANY_FIELDS = (
    "name", "parent_id", "website", "domain", "industry", "size", "classification", "phone",
    "street", "postal_code", "city", "region", "country", "preferred_channel", "do_not_email",
    "do_not_call", "owner_id", "notes",
)  # fmt: skip
#: Choices, kept here with their labels so forms, the API and imports offer the same ones.
SIZES = (
    ("1-10", "1–10 employees"), ("11-50", "11–50 employees"), ("51-200", "51–200 employees"),
    ("201-500", "201–500 employees"), ("501-1000", "501–1,000 employees"),
    ("1001-5000", "1,001–5,000 employees"), ("5001+", "More than 5,000 employees"),
)  # fmt: skip
CLASSIFICATIONS = (("A", "A: key account"), ("B", "B: regular"), ("C", "C: occasional"))
CHANNELS = (("email", "Email"), ("phone", "Phone"), ("meeting", "Meeting"), ("post", "Post"))


@cache
def countries(locale: str = "en") -> tuple[tuple[str, str], ...]:
    """ISO 3166-1 alpha-2 codes with their names, sorted by name."""
    names = Locale.parse(locale).territories
    codes = (c for c in names if len(c) == 2 and c.isalpha() and c not in _NOT_ISO_3166)
    return tuple(sorted(((c, names[c]) for c in codes), key=lambda item: item[1]))


def country_codes() -> frozenset[str]:
    return frozenset(code for code, _name in countries())


def plain_text(value: str) -> str:
    """Text safe to search or compare with: without the control characters no field may hold."""
    return _CONTROL.sub("", value)


def validate_country(value: str) -> None:
    if value not in country_codes():
        raise ValidationError("Use a two-letter ISO 3166 country code, such as DE or JP.")


def validate_phone(value: str) -> None:
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE_CHARS.match(value) or not 5 <= digits <= 20:
        raise ValidationError("Enter a phone number of 5 to 20 digits (spaces, + - ( ) allowed).")


def validate_domain(value: str) -> None:
    if not _DOMAIN.match(value):
        raise ValidationError("Enter a domain name such as example.com.")


def optional_text(max_len: int, **kwargs: Any) -> fields.String:
    """An optional text field: blank means none."""
    validators = [validate.Length(max=max_len, error="Use at most {max} characters.")]
    validators += kwargs.pop("validators", [])
    return fields.String(load_default=None, allow_none=True, validate=validators, **kwargs)


def choice(options: tuple[tuple[str, str], ...], message: str) -> fields.String:
    """An optional choice among ``options`` (value, label); blank means none."""
    return fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf([value for value, _label in options], error=message),
    )


def flag() -> fields.Boolean:
    """A yes/no field; a form leaves an unticked box out, which means no."""
    return fields.Boolean(
        load_default=False,
        allow_none=True,
        truthy={True, "true", "on", "1", "yes"},
        falsy={False, "false", "off", "0", "no", None},
        error_messages={"invalid": "Tick the box or leave it empty."},
    )


class RecordSchema(Schema):
    """Shared input cleaning: strip text, turn blanks into None; unknown fields are refused."""

    @pre_load
    def _clean(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        cleaned, bad = {}, {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip()
                # PostgreSQL refuses NUL in text; other control characters are never meant.
                if _CONTROL.search(value):
                    bad[key] = ["Remove the control characters from this field."]
                value = value or None
            cleaned[key] = value
        if bad:
            raise ValidationError(bad)
        return cleaned


class CompanySchema(RecordSchema):
    """A company as written by a person or an integration."""

    name = fields.String(
        required=True,
        validate=validate.Length(max=200, error="Use at most {max} characters."),
        error_messages={
            "required": "Enter the company's name.",
            "null": "Enter the company's name.",
        },
    )
    website = fields.URL(
        load_default=None,
        allow_none=True,
        schemes={"http", "https"},
        require_tld=True,
        validate=validate.Length(max=300, error="Use at most {max} characters."),
        error_messages={"invalid": "Enter a web address such as https://example.com."},
    )
    domain = optional_text(255, validators=[validate_domain])
    industry = optional_text(100)
    phone = optional_text(50, validators=[validate_phone])
    street = optional_text(200)
    postal_code = optional_text(20)
    city = optional_text(100)
    region = optional_text(100)
    country = optional_text(2, validators=[validate_country])
    notes = optional_text(10_000)
    parent_id = fields.UUID(
        load_default=None,
        allow_none=True,
        error_messages={"invalid_uuid": "Choose a parent company from the list."},
    )
    size = choice(SIZES, "Choose an employee band from the list.")
    classification = choice(CLASSIFICATIONS, "Choose A, B or C.")
    preferred_channel = choice(CHANNELS, "Choose email, phone, meeting or post.")
    do_not_email = flag()
    do_not_call = flag()
    owner_id = fields.UUID(
        load_default=None,
        allow_none=True,
        error_messages={"invalid_uuid": "Choose an owner from the list."},
    )

    @pre_load
    def _normalise(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        website = data.get("website")
        # People type "acme.com"; accept it as the https address it almost always means.
        if isinstance(website, str) and website and "://" not in website:
            data["website"] = "https://" + website
        if isinstance(data.get("classification"), str):
            data["classification"] = data["classification"].upper()
        for key in ("country", "domain"):
            value = data.get(key)
            if isinstance(value, str):
                data[key] = value.upper() if key == "country" else value.lower().rstrip(".")
        return data

    @post_load
    def _flags_default_to_no(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        for key in ("do_not_email", "do_not_call"):
            if key in data and data[key] is None:
                data[key] = False
        return data

    @post_load
    def _derive_domain(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        if data.get("website") and not data.get("domain") and "domain" in self.fields:
            host = (urlsplit(data["website"]).hostname or "").lower()
            host = host.removeprefix("www.")
            if _DOMAIN.match(host):
                data["domain"] = host
        return data


def load(schema: Schema, data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Validate input with a schema; raise ValidationFailed naming each bad field."""
    if not isinstance(data, dict):
        data = dict(data) if data is not None else {}
    try:
        return schema.load(data, partial=partial)
    except ValidationError as exc:
        raise ValidationFailed(_flatten(exc.messages)) from None


def _flatten(messages: Any) -> dict[str, list[str]]:
    if isinstance(messages, list):
        return {"_form": [str(m) for m in messages]}
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        if isinstance(value, dict) and value and all(isinstance(k, int) for k in value):
            # A list of nested items (emails, phones...): name the item and its field.
            for index, item in value.items():
                nested = _flatten(item) if isinstance(item, dict | list) else {"_form": [item]}
                for sub, texts in nested.items():
                    name = f"{key}.{index}" if sub == "_form" else f"{key}.{index}.{sub}"
                    out[name] = texts
        elif isinstance(value, dict):
            out[key] = [str(m) for v in value.values() for m in (v if isinstance(v, list) else [v])]
        else:
            out[key] = [str(m) for m in (value if isinstance(value, list) else [value])]
    return out


class TeamMemberSchema(RecordSchema):
    """A member of a company's account team."""

    user_id = fields.UUID(
        required=True,
        error_messages={
            "required": "Choose a member.",
            "null": "Choose a member.",
            "invalid_uuid": "Choose a member from the list.",
        },
    )
    role = optional_text(100)

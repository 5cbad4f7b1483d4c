"""Filtering and sorting any customizable record type on its columns and custom fields.

A filter is a list of :class:`Condition` (field, operator, value), read from raw strings by
:func:`parse` (which names the field and the rule when something is wrong) and turned into WHERE
clauses by :func:`apply`. Fields are the record's own columns (``owner_id``, ``created_at``...)
or its custom fields (``custom.<api_name>``), compared through the very expression the
filterable-field indexes cover, so an indexed field filters through its index.

:func:`sort_key` gives an expression to order by that :func:`rapport.tenants.paging.keyset_page`
can page on: never NULL (a NULL breaks the ``(key, id) > (value, id)`` comparison the cursor
relies on, so empty values sort first) and of a type a cursor can carry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    Select,
    String,
    and_,
    cast,
    func,
    inspect,
    literal,
    not_,
    or_,
)
from sqlalchemy.orm import Session

from rapport.platform.db import UTCDateTime
from rapport.platform.errors import ValidationFailed
from rapport.tenants import records
from rapport.tenants.companies.schemas import plain_text
from rapport.tenants.contacts.models import directory_name
from rapport.tenants.fields import indexes
from rapport.tenants.fields.queries import Field, fields_for
from rapport.tenants.fields.validation import Invalid, coerce

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "is_null")
OPERATOR_LABELS = {
    "eq": "is", "ne": "is not", "gt": "after / more than", "gte": "from / at least",
    "lt": "before / less than", "lte": "until / at most", "in": "is one of",
    "contains": "contains", "is_null": "is empty",
}  # fmt: skip
#: The value of ``owner_id`` (or any member field) that means the person asking.
ME = "me"
CUSTOM_PREFIX = "custom."
MAX_VALUE_LENGTH = 500
MAX_IN_ITEMS = 200
#: Columns no filter, sort or column chooser offers: the custom values as a whole, and
#: bookkeeping that means nothing to people (board positions, search vectors, secrets).
INTERNAL = frozenset({"custom", "position", "search_vector", "token", "token_hash", "secret"})

_COMPARE = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "is_null")
KIND_OPERATORS: dict[str, tuple[str, ...]] = {
    "text": ("eq", "ne", "in", "contains", "is_null"),
    "integer": _COMPARE,
    "decimal": _COMPARE,
    "date": _COMPARE,
    "datetime": _COMPARE,
    "boolean": ("eq", "ne", "is_null"),
    "uuid": ("eq", "ne", "in", "is_null"),
    "select": ("eq", "ne", "in", "is_null"),
}
#: Custom field types and how they filter; multi selects and currencies hold more than one
#: scalar, so no single expression (or index) compares them.
_CUSTOM_KINDS = {
    "text": "text", "long_text": "text", "email": "text", "phone": "text", "url": "text",
    "integer": "integer", "decimal": "decimal", "percent": "decimal",
    "date": "date", "datetime": "datetime", "checkbox": "boolean",
    "single_select": "select", "user": "uuid", "lookup": "uuid",
}  # fmt: skip
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}
_NO_NUMBER = -1e18  # sorts before every amount a Numeric(18, x) or a custom number can hold
_NO_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Sort keys that are not one column: how a directory orders people.
#: Each is the very expression an index of the model covers (see the model), so the list's
#: default order reads from that index.
_DERIVED_SORTS: dict[str, dict[str, Callable[[Any], ColumnElement[Any]]]] = {
    "contacts": {"name": lambda model: directory_name(model.last_name, model.first_name)},
    "leads": {"name": lambda model: directory_name(model.last_name, model.first_name)},
}
_ALIASES = {"created": "created_at", "updated": "updated_at"}


@dataclasses.dataclass(frozen=True)
class Condition:
    """One filter: ``field`` (a column name or ``custom.<api_name>``) ``op`` ``value``.

    The value is already coerced: a list for ``in``, a bool for ``is_null``, :data:`ME` (or a
    list holding it) for the current user.
    """

    field: str
    op: str
    value: Any


@dataclasses.dataclass(frozen=True)
class FilterField:
    """A field people can filter, sort and show as a column."""

    key: str  # "owner_id", "custom.region"
    label: str
    kind: str  # text, integer, decimal, date, datetime, boolean, uuid, select
    column: Any = None  # the model attribute, for built-in columns
    custom: Field | None = None  # the definition, for custom fields
    nullable: bool = True
    #: (value, label) of a built-in field fed by a tenant picklist (retired options included:
    #: records keep them).
    choices: tuple[tuple[str, str], ...] = ()

    @property
    def operators(self) -> tuple[str, ...]:
        return KIND_OPERATORS[self.kind]

    @property
    def options(self) -> list[tuple[str, str]]:
        """(value, label) pairs for select fields."""
        if self.kind != "select":
            return []
        if self.custom is None:
            return list(self.choices)
        return [(v, self.custom.option_label(v)) for v in self.custom.option_values()]


def _column_kind(column: Any) -> str | None:
    kind = column.type
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, DateTime | UTCDateTime):
        return "datetime"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, Numeric):
        return "decimal"
    if isinstance(kind, String):
        return "text"
    try:
        python_type = kind.python_type
    except NotImplementedError:
        return None
    if python_type is uuid.UUID:
        return "uuid"
    return None  # JSON, binary...: nothing a person compares


def _label(name: str) -> str:
    if name == "owner_id":
        return "Owner"
    if name.endswith("_id") or name.endswith("_at"):
        name = name[:-3]
    return name.replace("_", " ").capitalize()


def built_in_fields(record_type: str) -> list[FilterField]:
    """The record type's own columns that are safe to filter and sort on, in table order."""
    model = records.get(record_type).model
    out = []
    for attr in inspect(model).column_attrs:
        if attr.key in INTERNAL or len(attr.columns) != 1:
            continue
        column = attr.columns[0]
        kind = _column_kind(column)
        if kind is None:
            continue
        out.append(
            FilterField(
                attr.key, _label(attr.key), kind, getattr(model, attr.key), None, column.nullable
            )
        )
    return out


def custom_fields(session: Session, record_type: str) -> list[FilterField]:
    """The record type's live custom fields that hold one comparable value."""
    return [
        FilterField(CUSTOM_PREFIX + f.api_name, f.label, _CUSTOM_KINDS[f.type], None, f)
        for f in fields_for(session, record_type)
        if f.type in _CUSTOM_KINDS
    ]


def available_fields(session: Session, record_type: str) -> list[FilterField]:
    """Every field of the record type that filters, sorts and exports: columns, then custom
    (less the fields the acting role may not see: they can be neither shown nor filtered on)."""
    hidden = _hidden(session, record_type)
    fields = _picked(session, record_type, built_in_fields(record_type))
    fields += custom_fields(session, record_type)
    return [f for f in fields if _name_of(f) not in hidden] if hidden else fields


def _picked(session: Session, record_type: str, fields: list[FilterField]) -> list[FilterField]:
    """Built-in fields fed by a picklist become selects of the tenant's options."""
    picked = records.get(record_type).picked
    if not picked:
        return fields
    from rapport.tenants.picklists.queries import pairs

    return [
        dataclasses.replace(
            f, kind="select", choices=tuple(pairs(session, picked[f.key], retired=True))
        )
        if f.key in picked
        else f
        for f in fields
    ]


def find_field(session: Session, record_type: str, key: str) -> FilterField | None:
    key = _ALIASES.get(key, key)
    if key.startswith(CUSTOM_PREFIX):
        found = next((f for f in custom_fields(session, record_type) if f.key == key), None)
    else:
        own = [f for f in built_in_fields(record_type) if f.key == key]
        found = next(iter(_picked(session, record_type, own)), None)
    if found is not None and _name_of(found) in _hidden(session, record_type):
        return None
    return found


def _hidden(session: Session, record_type: str) -> frozenset[str]:
    from rapport.tenants.roles import access

    return access.hidden(session, record_type)


def _name_of(field: FilterField) -> str:
    return field.key.removeprefix(CUSTOM_PREFIX)


# -- reading raw input -----------------------------------------------------------------------------
def _bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Invalid("Enter yes or no.")


def _loose(field: Field) -> Field:
    """The definition without the rules a stored value must meet: a filter may be partial."""
    return dataclasses.replace(
        field, min_value=None, max_value=None, min_length=None, max_length=None, pattern=None
    )


def _scalar(field: FilterField, raw: str, tenant_id: uuid.UUID | None) -> Any:
    """One raw value as the field compares it, or Invalid naming the rule."""
    text = raw.strip()
    if len(text) > MAX_VALUE_LENGTH:
        raise Invalid(f"Use at most {MAX_VALUE_LENGTH} characters.")
    if plain_text(text) != text:
        raise Invalid("Remove the control characters from this value.")
    if not text:
        raise Invalid("Enter a value, or use “is empty”.")
    kind = field.kind
    lookup = field.custom is not None and field.custom.type == "lookup"
    if kind == "uuid" and text.lower() == ME and not lookup:
        return ME
    if field.custom is not None:
        definition = field.custom
        if kind == "text":
            return text
        if kind == "select":
            if text not in definition.option_values():
                raise Invalid("Choose one of the options.")
            return text
        if kind == "uuid":
            # A lookup compares ids only: a record deleted since may still be asked for.
            try:
                return str(uuid.UUID(text))
            except ValueError:
                raise Invalid(
                    "Enter the id of a record." if lookup else "Choose a member of this workspace."
                ) from None
        if kind == "datetime":
            try:
                return dt.date.fromisoformat(text)  # a whole day, as for built-in columns
            except ValueError:
                pass
        return coerce(_loose(definition), text, tenant_id=tenant_id)
    if kind == "select":  # a built-in field fed by a picklist
        if text not in {value for value, _label in field.choices}:
            raise Invalid("Choose one of the options.")
        return text
    if kind == "text":
        return text
    if kind == "boolean":
        return _bool(text)
    if kind == "uuid":
        try:
            return uuid.UUID(text)
        except ValueError:
            raise Invalid("Enter an id such as 0190a1b2-….") from None
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise Invalid("Enter a whole number.") from None
    if kind == "decimal":
        try:
            number = Decimal(text.replace(",", "").replace(" ", ""))
        except InvalidOperation:
            raise Invalid("Enter a number such as 12.5.") from None
        if not number.is_finite():
            raise Invalid("Enter a number such as 12.5.")
        return number
    if kind == "date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise Invalid("Enter a date such as 2026-06-30.") from None
    if kind == "datetime":
        # A bare date means that whole day (UTC); apply() widens it.
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("Enter a date such as 2026-06-30 or 2026-06-30T14:00Z.") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    raise Invalid("This field cannot be filtered on.")


def parse(
    session: Session, record_type: str, items: Iterable[tuple[str, str, str]]
) -> list[Condition]:
    """Read (field, operator, value) strings; raise ValidationFailed naming each bad one."""
    tenant = session.info.get("tenant")
    tenant_id = tenant.id if tenant is not None else None
    conditions: list[Condition] = []
    errors: dict[str, list[str]] = {}
    for key, op, raw in items:
        key, op, raw = (key or "").strip(), (op or "").strip(), raw if raw is not None else ""
        field = find_field(session, record_type, key) if key else None
        name = key or "field"
        if field is None:
            errors.setdefault(name, []).append("There is no such field to filter on.")
            continue
        if op not in OPERATORS:
            errors.setdefault(name, []).append(
                f"Unknown operator “{op}”; use one of {', '.join(OPERATORS)}."
            )
            continue
        if op not in field.operators:
            errors.setdefault(name, []).append(
                f"“{OPERATOR_LABELS[op]}” does not apply to this field; "
                f"use one of {', '.join(field.operators)}."
            )
            continue
        try:
            if op == "is_null":
                value: Any = True if not str(raw).strip() else _bool(str(raw))
            elif op == "in":
                parts = [p for p in str(raw).split(",") if p.strip()]
                if not parts:
                    raise Invalid("Enter one or more values separated by commas.")
                if len(parts) > MAX_IN_ITEMS:
                    raise Invalid(f"Enter at most {MAX_IN_ITEMS} values.")
                value = list(dict.fromkeys(_scalar(field, p, tenant_id) for p in parts))
            else:
                value = _scalar(field, str(raw), tenant_id)
        except Invalid as exc:
            errors.setdefault(field.key, []).append(str(exc))
            continue
        conditions.append(Condition(field.key, op, value))
    if errors:
        raise ValidationFailed(errors)
    return conditions


# -- building SQL ----------------------------------------------------------------------------------
def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _custom_expr(session: Session, record_type: str, field: FilterField) -> ColumnElement[Any]:
    model = records.get(record_type).model
    assert field.custom is not None
    return indexes.expression(model.custom, field.custom.api_name, _dialect(session))


def _stored(value: Any, dialect: str) -> Any:
    """A custom value as the index expression yields it (PostgreSQL: text; SQLite: JSON scalar)."""
    if dialect == "postgresql":
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _resolve_me(value: Any, me: uuid.UUID | None, custom: bool) -> Any:
    if value != ME:
        return value
    if me is None:
        raise ValidationFailed({"owner_id": ["“me” needs a signed-in member."]})
    return str(me) if custom else me


def _day(value: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def _compare(expr: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "eq":
        return expr == value
    if op == "ne":
        return or_(expr != value, expr.is_(None))
    if op == "gt":
        return expr > value
    if op == "gte":
        return expr >= value
    if op == "lt":
        return expr < value
    if op == "lte":
        return expr <= value
    raise AssertionError(op)


def _is_day(value: Any) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _whole_days(expr: Any, op: str, value: dt.date, *, text: bool) -> ColumnElement[bool]:
    """A datetime compared with a whole day: ``eq 2026-06-30`` is any time that day."""
    start: Any
    end: Any
    start, end = _day(value)
    if text:
        start, end = start.date().isoformat(), end.date().isoformat()
    if op == "eq":
        return and_(expr >= start, expr < end)
    if op == "ne":
        return or_(expr < start, expr >= end, expr.is_(None))
    if op == "gt":
        return expr >= end
    if op == "gte":
        return expr >= start
    if op == "lt":
        return expr < start
    return expr < end  # lte


def _clause(
    session: Session, record_type: str, cond: Condition, me: uuid.UUID | None
) -> ColumnElement[bool]:
    field = find_field(session, record_type, cond.field)
    if field is None or cond.op not in field.operators:
        raise ValidationFailed({cond.field: ["This field cannot be filtered on."]})
    custom = field.custom is not None
    expr: Any = _custom_expr(session, record_type, field) if custom else field.column
    if cond.op == "is_null":
        blank = expr.is_(None)
        if field.kind == "text":
            blank = or_(blank, expr == "")
        return blank if cond.value else not_(blank)
    if cond.op == "contains":
        return expr.icontains(str(cond.value), autoescape=True)
    values = cond.value if cond.op == "in" else [cond.value]
    values = [_resolve_me(v, me, custom) for v in values]
    if field.kind == "datetime" and any(_is_day(v) for v in values):
        if custom:
            # Stored as ISO 8601 text in UTC, so a day is a range of text.
            expr = cast(expr, String)
        op = "eq" if cond.op == "in" else cond.op
        return or_(
            *(
                _whole_days(expr, op, v, text=custom) if _is_day(v) else _compare(expr, op, v)
                for v in values
            )
        )
    if custom:
        dialect = _dialect(session)
        if field.kind in ("integer", "decimal") and cond.op in ("gt", "gte", "lt", "lte"):
            expr = cast(expr, Numeric(36, 12))
            values = [Decimal(str(v)) for v in values]
        elif field.kind in ("date", "datetime") and cond.op in ("gt", "gte", "lt", "lte"):
            values = [v.isoformat() if isinstance(v, dt.date) else v for v in values]
            expr = cast(expr, String)
        else:
            values = [_stored(v, dialect) for v in values]
        if field.kind == "boolean" and cond.op in ("eq", "ne"):
            # A record saved before the checkbox existed holds nothing: that reads as "no".
            ticked = expr == _stored(True, dialect)
            wanted = bool(cond.value) == (cond.op == "eq")
            return ticked if wanted else or_(not_(ticked), expr.is_(None))
    if cond.op == "in":
        return expr.in_(values)
    return _compare(expr, cond.op, values[0])


def apply(
    session: Session,
    record_type: str,
    stmt: Select[Any],
    conditions: Iterable[Condition],
    *,
    me: uuid.UUID | None = None,
) -> Select[Any]:
    """``stmt`` with one WHERE clause per condition (all must hold); "me" means ``me``."""
    for cond in conditions:
        stmt = stmt.where(_clause(session, record_type, cond, me))
    return stmt


def sort_key(session: Session, record_type: str, key: str) -> ColumnElement[Any]:
    """An expression to order and keyset-page by; ValidationFailed if ``key`` is no field.

    Text sorts case-insensitively; empty values sort first in ascending order.
    """
    key = _ALIASES.get(key.lstrip("-"), key.lstrip("-"))
    derived = _DERIVED_SORTS.get(record_type, {}).get(key)
    if derived is not None:
        model = records.get(record_type).model
        return derived(model)
    field = find_field(session, record_type, key)
    if field is None:
        raise ValidationFailed({"sort": [f"There is no field “{key}” to sort by."]})
    if field.custom is not None:
        expr: Any = _custom_expr(session, record_type, field)
        if field.kind in ("integer", "decimal"):
            return func.coalesce(cast(expr, Float), _NO_NUMBER, type_=Float())
        if field.kind == "text":
            return func.lower(func.coalesce(cast(expr, String), ""), type_=String())
        return func.coalesce(cast(expr, String), "", type_=String())
    column = field.column
    kind, nullable = field.kind, field.nullable
    if kind == "text":
        lowered = func.lower(column, type_=String())
        return func.coalesce(lowered, "", type_=String()) if nullable else lowered
    if kind == "datetime":
        if not nullable:
            return column
        return func.coalesce(column, literal(_NO_TIME, UTCDateTime()), type_=UTCDateTime())
    if kind == "integer":
        return func.coalesce(column, int(_NO_NUMBER), type_=Integer()) if nullable else column
    if kind == "decimal":
        return func.coalesce(cast(column, Float), _NO_NUMBER, type_=Float())
    if kind == "boolean":
        as_int = cast(column, Integer)
        return func.coalesce(as_int, -1, type_=Integer())
    # Dates and ids sort as their text (ISO dates sort in time order); a cursor carries text.
    return func.coalesce(cast(column, String), "", type_=String())


def sortable(session: Session, record_type: str, key: str) -> bool:
    """Whether ``key`` (with or without a leading "-") names something :func:`sort_key` orders."""
    key = _ALIASES.get(key.lstrip("-"), key.lstrip("-"))
    return key in _DERIVED_SORTS.get(record_type, {}) or (
        find_field(session, record_type, key) is not None
    )

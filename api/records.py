"""What every record resource shares: list arguments and pages, ETags and If-Match."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from typing import Any

import marshmallow as ma
from flask import Response, current_app, g, request
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Session

from rapport.api import errors
from rapport.platform.errors import ValidationFailed
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import filtering, records
from rapport.tenants.paging import DEFAULT_LIMIT, MAX_LIMIT, Page, SortOption, keyset_page
from rapport.tenants.roles import access
from rapport.tenants.roles.fields import strip_hidden


class ListArgs(ma.Schema):
    """Query arguments of a list: search, order, the cursor of the page and its size."""

    class Meta:
        unknown = ma.EXCLUDE

    q = ma.fields.String(
        load_default="",
        validate=ma.validate.Length(max=200),
        metadata={"description": "Search text."},
    )
    sort = ma.fields.String(
        load_default=None,
        metadata={"description": "A sort key; prefix with - for descending."},
    )
    cursor = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=1000),
        metadata={"description": "next_cursor or prev_cursor of a previous page."},
    )
    limit = ma.fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=ma.validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Page size, at most {MAX_LIMIT}."},
    )


class RecordFields(ma.Schema):
    """What every customizable record returns besides its own fields: id, custom, timestamps."""

    id = ma.fields.UUID(dump_only=True)
    custom = ma.fields.Dict(
        dump_default=dict, metadata={"description": "Custom fields (see this schema's properties)."}
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)

    @ma.post_dump
    def _without_hidden_fields(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """Leave out the fields the key's role may not see (the record's own and custom)."""
        kind = _record_type_of(type(self))
        if kind is None or g.get("tenant") is None:
            return data
        return strip_hidden(data, access.hidden(tenant_db(), kind))


@functools.cache
def _record_type_of(schema: type) -> str | None:
    """The record type a ``<Component>RecordSchema`` dumps, by its OpenAPI component name."""
    component = schema.__name__.removesuffix("RecordSchema")
    return next(
        (kind.name for kind in records.all_types() if (kind.components or ("",))[0] == component),
        None,
    )


class PageMeta(ma.Schema):
    total = ma.fields.Integer(required=True)
    sort = ma.fields.String(required=True)
    next_cursor = ma.fields.String(allow_none=True)
    prev_cursor = ma.fields.String(allow_none=True)


def page_schema(name: str, item: type[ma.Schema]) -> type[ma.Schema]:
    """A page of ``item`` records: ``{items, total, sort, next_cursor, prev_cursor}``."""
    return type(name, (PageMeta,), {"items": ma.fields.List(ma.fields.Nested(item), required=True)})


def page_body(page: Any, sort: Any, items: list[Any]) -> dict[str, Any]:
    return {
        "items": items,
        "total": page.total,
        "sort": sort.token,
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
    }


def _json(representation: dict[str, Any]) -> bytes:
    return json.dumps(representation, sort_keys=True, separators=(",", ":"), default=str).encode()


def _etag(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def etag_of(representation: dict[str, Any]) -> str:
    """A strong validator of a record's representation: it changes exactly when the JSON does."""
    return _etag(_json(representation))


def check_if_match(representation: dict[str, Any]) -> None:
    """Refuse a write (412) whose If-Match names another version of the record."""
    condition = request.if_match
    if not condition:
        return  # unconditional writes are allowed; integrators opt in to the check
    if condition.star_tag:
        return
    if not condition.contains(etag_of(representation)):
        errors.fail(412, "The record changed since you read it. Read it again, then retry.")


def record_response(representation: dict[str, Any], status: int = 200) -> Response:
    """One record's JSON with its ETag. The representation is dumped once, by the caller (it is
    also what ``If-Match`` is checked against); smorest passes a ready response through, while
    the route's ``@blp.response`` schema still documents it."""
    body = _json(representation)  # the bytes sent are the bytes the ETag is of
    return Response(body, status, {"ETag": f'"{_etag(body)}"'}, mimetype=current_app.json.mimetype)


# -- filters: filter[<field>][<op>]=value ---------------------------------------------------------
_FILTER = re.compile(r"^filter\[([^\[\]]{1,100})\](?:\[([^\[\]]{1,20})\])?$")
MAX_FILTERS = 20

#: The ``filter`` query parameter as the OpenAPI document describes it (deepObject style).
FILTER_PARAMETER = {
    "name": "filter",
    "in": "query",
    "required": False,
    "style": "deepObject",
    "explode": True,
    "description": (
        "Filters, all of which must hold: `filter[<field>][<op>]=<value>`; `filter[<field>]=v` "
        "means `eq`. Fields are the record's own (e.g. `name`, `owner_id`, `created_at`) or its "
        "custom fields, `custom.<api_name>`. Operators: "
        + ", ".join(f"`{op}`" for op in filtering.OPERATORS)
        + ". `in` takes comma-separated values; `is_null` takes true or false; dates are "
        "YYYY-MM-DD (a whole day) or ISO 8601 times. Example: "
        "`filter[amount][gte]=1000&filter[custom.region][in]=north,south`. "
        "`sort` accepts the same fields (prefix - for descending)."
    ),
    "schema": {"type": "object", "additionalProperties": {"type": "string"}},
}


#: ``@blp.doc(**FILTERS_DOC)`` on a list operation: the document gets FILTER_PARAMETER next to
#: the operation's other query parameters (a ``parameters`` list given to ``doc`` would replace
#: the ones smorest derives from the arguments schema).
FILTERS_DOC = {"x-rapport-filters": True}


def add_filter_parameters(document: dict[str, Any]) -> None:
    """Put FILTER_PARAMETER into every operation marked with FILTERS_DOC."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and operation.pop("x-rapport-filters", False):
                operation.setdefault("parameters", []).append(FILTER_PARAMETER)


def filter_items() -> list[tuple[str, str, str]]:
    """The ``filter[...]`` query arguments as (field, operator, value)."""
    items: list[tuple[str, str, str]] = []
    for name, value in request.args.items(multi=True):
        if not name.startswith("filter"):
            continue
        match = _FILTER.match(name)
        if match is None:
            errors.fail(
                422,
                "Write filters as filter[<field>][<op>]=<value>.",
                errors={"query": {name[:120]: ["Not a filter of the form filter[field][op]."]}},
            )
        items.append((match.group(1), match.group(2) or "eq", value))
    if len(items) > MAX_FILTERS:
        errors.fail(422, f"Use at most {MAX_FILTERS} filters.")
    return items


def filter_conditions(session: Session, record_type: str) -> list[filtering.Condition]:
    """The request's filters, checked against the record type's fields (422 naming bad ones)."""
    items = filter_items()
    if not items:
        return []
    try:
        return filtering.parse(session, record_type, items)
    except ValidationFailed as exc:
        errors.fail(422, "Some filters are not valid.", errors={"query": exc.errors})


#: The sort keys of the first API version, still accepted.
_SORT_ALIASES = {"created": "created_at", "updated": "updated_at"}


def sort_option(session: Session, record_type: str, raw: str | None, default: str) -> SortOption:
    """``name`` / ``-custom.region``: any field that sorts; anything else means the default."""
    text = (raw or "").strip()
    key = text.lstrip("-")
    key = _SORT_ALIASES.get(key, key)
    if not key or len(key) > 100 or not filtering.sortable(session, record_type, key):
        return SortOption(default.lstrip("-"), default.startswith("-"))
    return SortOption(key, text.startswith("-"))


def record_page(
    session: Session,
    record_type: str,
    stmt: Select[Any],
    id_col: ColumnElement[uuid.UUID],
    args: dict[str, Any],
    *,
    default_sort: str,
    me: uuid.UUID | None = None,
) -> tuple[Page[Any], SortOption]:
    """One page of ``stmt`` with the request's filters, sorted by any field, keyset-paged."""
    order = sort_option(session, record_type, args.get("sort"), default_sort)
    try:
        stmt = filtering.apply(
            session, record_type, stmt, filter_conditions(session, record_type), me=me
        )
        key = filtering.sort_key(session, record_type, order.key)
    except ValidationFailed as exc:
        errors.fail(422, "Some filters are not valid.", errors={"query": exc.errors})
    page = keyset_page(
        session, stmt, key=key, id_col=id_col, sort=order, cursor=args["cursor"],
        limit=args["limit"],
    )  # fmt: skip
    return page, order

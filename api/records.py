"""What every record resource shares: list arguments and pages, ETags and If-Match."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import marshmallow as ma
from flask import request

from rapport.api import errors
from rapport.tenants.paging import DEFAULT_LIMIT, MAX_LIMIT


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


def etag_of(representation: dict[str, Any]) -> str:
    """A strong validator of a record's representation: it changes exactly when the JSON does."""
    body = json.dumps(representation, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def check_if_match(representation: dict[str, Any]) -> None:
    """Refuse a write (412) whose If-Match names another version of the record."""
    condition = request.if_match
    if not condition:
        return  # unconditional writes are allowed; integrators opt in to the check
    if condition.star_tag:
        return
    if not condition.contains(etag_of(representation)):
        errors.fail(412, "The record changed since you read it. Read it again, then retry.")


def etag_header(representation: dict[str, Any]) -> dict[str, str]:
    return {"ETag": f'"{etag_of(representation)}"'}

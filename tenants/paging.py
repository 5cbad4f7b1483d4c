"""Keyset paging on (sort key, id): pages stay correct while rows are added or removed.

A cursor names the row a page starts after (or ends before) by its sort value and id, as the
database computed them, so the next query continues exactly there. Cursors are opaque to users;
one that cannot be read, or that belongs to another sort order, simply starts from the first page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

T = TypeVar("T")

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


@dataclass(frozen=True)
class SortOption:
    """A way to order a list: the key users pick, and whether it runs descending."""

    key: str
    desc: bool

    @property
    def token(self) -> str:
        return f"{'-' if self.desc else ''}{self.key}"

    @classmethod
    def parse(cls, raw: str | None, allowed: tuple[str, ...], default: str) -> SortOption:
        """Read ``name`` / ``-updated``; fall back to the default for anything else."""
        raw = (raw or default).strip()
        desc = raw.startswith("-")
        key = raw.lstrip("-")
        if key not in allowed:
            return cls.parse(default, allowed, default)
        return cls(key, desc)


@dataclass
class Page(Generic[T]):
    """One page of a list, with cursors for the pages around it."""

    items: list[T]
    total: int
    next_cursor: str | None = None
    prev_cursor: str | None = None
    extras: dict[Any, Any] = field(default_factory=dict)


def _encode(sort: SortOption, direction: str, key: Any, row_id: uuid.UUID) -> str:
    if isinstance(key, dt.datetime):
        key = {"t": key.isoformat()}
    raw = json.dumps([sort.token, direction, key, row_id.hex], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str | None, sort: SortOption) -> tuple[str, Any, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        token, direction, key, row_hex = json.loads(raw)
        if token != sort.token or direction not in ("after", "before"):
            return None
        if isinstance(key, dict):
            key = dt.datetime.fromisoformat(key["t"])
        elif not isinstance(key, str | int | float) or (isinstance(key, str) and "\x00" in key):
            return None
        return direction, key, uuid.UUID(hex=row_hex)
    except (ValueError, TypeError, KeyError, binascii.Error, json.JSONDecodeError):
        return None


def keyset_page(
    session: Session,
    stmt: Select[Any],
    *,
    key: ColumnElement[Any],
    id_col: ColumnElement[uuid.UUID],
    sort: SortOption,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[Any]:
    """Run ``stmt`` (whose first column is the entity) one page at a time, ordered by key, id."""
    limit = max(1, min(limit, MAX_LIMIT))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    position = _decode(cursor, sort)
    if position is not None and not isinstance(position[1], _python_type(key)):
        position = None  # a forged cursor whose value does not fit the column
    backwards = position is not None and position[0] == "before"
    # Walking backwards is walking forwards in the opposite order, then flipping the page.
    descending = sort.desc != backwards
    paged = stmt.add_columns(key.label("_k"), id_col.label("_i"))
    if position is not None:
        _direction, value, row_id = position
        if descending:
            paged = paged.where(or_(key < value, and_(key == value, id_col < row_id)))
        else:
            paged = paged.where(or_(key > value, and_(key == value, id_col > row_id)))
    order = (key.desc(), id_col.desc()) if descending else (key.asc(), id_col.asc())
    rows = session.execute(paged.order_by(*order).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    page: Page[Any] = Page(items=[_strip(row) for row in rows], total=total)
    if rows:
        first, last = rows[0], rows[-1]
        has_next = True if backwards else more
        has_prev = more if backwards else position is not None
        if has_next:
            page.next_cursor = _encode(sort, "after", last._k, last._i)
        if has_prev:
            page.prev_cursor = _encode(sort, "before", first._k, first._i)
    return page


def _python_type(key: ColumnElement[Any]) -> type:
    try:
        return key.type.python_type
    except NotImplementedError:
        return object


def _strip(row: Any) -> Any:
    """Drop the paging columns again: a single entity, or a tuple of the statement's columns."""
    values = tuple(row)[:-2]
    return values[0] if len(values) == 1 else values

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

from sqlalchemy import ColumnElement, Select, func, inspect, literal, select, text, tuple_
from sqlalchemy.orm import Session, aliased

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
    #: ``total`` is a lower bound: more rows match than the count was allowed to read.
    total_capped: bool = False


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
    count_cap: int | None = None,
) -> Page[Any]:
    """Run ``stmt`` (whose first column is the entity) one page at a time, ordered by key, id.

    With ``count_cap`` the total counts at most that many rows and says so (``total_capped``):
    an exact count of a large table reads every row on every page, which is what a list page
    must not pay for a number people read as "a lot".
    """
    limit = max(1, min(limit, MAX_LIMIT))
    _custom_plans(session)
    total, capped = count_rows(session, stmt, count_cap)
    if count_cap is not None and not capped:
        stmt, key, id_col = _fenced(session, stmt, key, id_col)
    position = _decode(cursor, sort)
    if position is not None and not isinstance(position[1], _python_type(key)):
        position = None  # a forged cursor whose value does not fit the column
    backwards = position is not None and position[0] == "before"
    # Walking backwards is walking forwards in the opposite order, then flipping the page.
    descending = sort.desc != backwards
    paged = stmt.add_columns(key.label("_k"), id_col.label("_i"))
    if position is not None:
        _direction, value, row_id = position
        # A row-value comparison, not ``key > v OR (key = v AND id > i)``: PostgreSQL turns it
        # into a start position in the (key, id) index, so a deep page reads a page of entries
        # instead of filtering every entry before it.
        row = tuple_(key, id_col)
        after = tuple_(literal(value, key.type), literal(row_id, id_col.type))
        paged = paged.where(row < after if descending else row > after)
    order = (key.desc(), id_col.desc()) if descending else (key.asc(), id_col.asc())
    rows = session.execute(paged.order_by(*order).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    page: Page[Any] = Page(items=[_strip(row) for row in rows], total=total, total_capped=capped)
    if rows:
        first, last = rows[0], rows[-1]
        has_next = True if backwards else more
        has_prev = more if backwards else position is not None
        if has_next:
            page.next_cursor = _encode(sort, "after", last._k, last._i)
        if has_prev:
            page.prev_cursor = _encode(sort, "before", first._k, first._i)
    return page


def count_rows(session: Session, stmt: Select[Any], cap: int | None = None) -> tuple[int, bool]:
    """How many rows ``stmt`` selects, reading at most ``cap`` + 1 of them; (count, capped)."""
    inner = stmt.order_by(None)
    if cap is not None:
        inner = inner.limit(cap + 1)
    total = session.scalar(select(func.count()).select_from(inner.subquery())) or 0
    if cap is not None and total > cap:
        return cap, True
    return total, False


def _custom_plans(session: Session) -> None:
    """On PostgreSQL, plan this transaction's list queries for their actual values.

    psycopg prepares a statement it has run five times on a connection, and PostgreSQL then
    switches to a generic plan that ignores the values: for a list filtered by a search term or a
    rare value that plan scans (the quick search count over 100,000 contacts went from tens of
    milliseconds to 400 ms once prepared; bench/README.md). ``SET LOCAL`` ends with the
    transaction, so nothing leaks through the pool.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _fenced(
    session: Session, stmt: Select[Any], key: ColumnElement[Any], id_col: ColumnElement[Any]
) -> tuple[Select[Any], ColumnElement[Any], ColumnElement[Any]]:
    """On PostgreSQL, a filtered ``stmt`` known to match few rows, read as a materialized CTE.

    With ``ORDER BY key LIMIT n`` PostgreSQL likes to walk the (key, id) index and drop the rows
    the filter refuses, betting that matches are spread evenly. When they are not (a surname
    filter or a quick search for a surname under a sort by name: the matches sit together, deep
    in the index) it reads most of the table: seconds at a million contacts. The count just
    proved the matches are few (at most the cap), so fetching them through the filter's own
    index and sorting them costs at most what the count did.
    """
    if stmt.whereclause is None or session.get_bind().dialect.name != "postgresql":
        return stmt, key, id_col
    described = stmt.column_descriptions
    entity = described[0].get("entity") if len(described) == 1 else None
    if entity is None or described[0].get("expr") is not entity:
        return stmt, key, id_col  # only whole-entity lists (the list views) are rewritten
    matches = stmt.cte("matches").prefix_with("MATERIALIZED")
    alias = aliased(entity, matches)
    # The alias's own adapter: it knows the ORM annotations the key's columns carry.
    adapter = inspect(alias)._adapter

    def adapt(expr: Any) -> Any:
        # A mapped attribute (``Contact.id``) is adapted through its SQL expression.
        return adapter.traverse(getattr(expr, "__clause_element__", lambda: expr)())

    return select(alias), adapt(key), adapt(id_col)


def _python_type(key: ColumnElement[Any]) -> type:
    try:
        return key.type.python_type
    except NotImplementedError:
        return object


def _strip(row: Any) -> Any:
    """Drop the paging columns again: a single entity, or a tuple of the statement's columns."""
    values = tuple(row)[:-2]
    return values[0] if len(values) == 1 else values

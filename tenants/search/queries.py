"""Searching a tenant's records: ranked, prefix-tolerant, CJK-aware, one query for all types.

Order of the results: a record whose name is exactly the query first, then names that start
with it, then by relevance (SQLite: FTS5's ``bm25``; PostgreSQL: the shortest name holding all
the terms, see ``_matching``), then by name. Every query is bounded by ``limit``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    case,
    false,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from rapport.platform.db import TENANT_SCHEMA
from rapport.tenants.modules import services as modules
from rapport.tenants.search import ddl
from rapport.tenants.search.documents import searchable_types
from rapport.tenants.search.models import SearchEntry
from rapport.tenants.search.tokens import QueryTerm, match_key, query_terms

MAX_LIMIT = 100
MAX_QUERY = 200

# The FTS5 table (SQLite), declared for queries only: it is created by ddl.install, not by the
# metadata, and lives in the tenant's schema like every tenant table.
_fts = Table(
    ddl.FTS_TABLE,
    MetaData(schema=TENANT_SCHEMA),
    Column("rowid", Integer),
    Column("tokens", Text),
    Column("rank", Text),
)


@dataclass(frozen=True)
class Hit:
    record_type: str
    record_id: uuid.UUID
    title: str
    subtitle: str | None


@dataclass
class Results:
    query: str
    terms: list[QueryTerm]
    hits: list[Hit]
    counts: dict[str, int] = field(default_factory=dict)  # record type → matches, all types
    more: bool = False  # there are more hits than were returned

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _fts_query(terms: Sequence[QueryTerm]) -> str:
    """An FTS5 MATCH expression: every term required; partial words as prefixes."""
    # Tokens hold letters and digits only, so quoting them as FTS5 strings is exact.
    return " AND ".join(f'"{t.token}"' + ("*" if t.prefix else "") for t in terms)


def _ts_query(terms: Sequence[QueryTerm]) -> str:
    """A tsquery literal with the tokens as lexemes (no parser runs over them)."""
    return " & ".join(f"'{t.token}'" + (":*" if t.prefix else "") for t in terms)


def _matching(
    session: Session, terms: Sequence[QueryTerm]
) -> tuple[Select[Any], ColumnElement[Any]]:
    """The matching index rows, and the rank to order them by (smaller is better)."""
    if session.get_bind().dialect.name == "postgresql":
        # Spelled as ddl.PG_VECTOR_SQL (the separator a literal, not a parameter), so the
        # planner recognises the GIN index's expression.
        vector = func.array_to_tsvector(
            func.string_to_array(SearchEntry.tokens, literal_column("' '"))
        )
        query = literal(_ts_query(terms)).cast(TSQUERY)
        stmt = select(SearchEntry).where(vector.op("@@")(query))
        # The lexemes are unique and carry no positions or weights, so ts_rank would only
        # re-derive every match's vector to say what the match already says. Shorter titles
        # holding all the terms come first instead (as bm25's length normalisation does).
        return stmt, func.length(SearchEntry.title_key)
    stmt = (
        select(SearchEntry)
        .join(_fts, _fts.c.rowid == SearchEntry.doc_id)
        .where(_fts.c.tokens.op("MATCH")(_fts_query(terms)))
    )
    return stmt, _fts.c.rank


def search(
    session: Session,
    query: str,
    *,
    types: Sequence[str] | None = None,
    limit: int = 20,
    offset: int = 0,
    with_counts: bool = True,
) -> Results:
    """Search the tenant's records for ``query``; ``types`` narrows to some record types."""
    query = (query or "").strip()[:MAX_QUERY]
    terms = query_terms(query)
    results = Results(query=query, terms=terms, hits=[])
    if not terms:
        return results
    limit = max(1, min(limit, MAX_LIMIT))
    stmt, rank = _matching(session, terms)
    # Records of switched-off modules are not found (the role's visibility applies on its own:
    # see rapport.tenants.roles.access).
    switched_on = modules.record_types(session)
    on = [name for name in searchable_types() if name in switched_on]
    if len(on) < len(searchable_types()):
        stmt = stmt.where(SearchEntry.record_type.in_(on))
    if with_counts:
        matched = stmt.with_only_columns(SearchEntry.record_type).subquery()
        rows = session.execute(
            select(matched.c.record_type, func.count()).group_by(matched.c.record_type)
        ).all()
        found = dict(rows)
        results.counts = {name: found[name] for name in searchable_types() if found.get(name)}
    wanted = [t for t in (types or ()) if t in searchable_types()]
    if wanted:
        stmt = stmt.where(SearchEntry.record_type.in_(wanted))
    key = match_key(query)
    exact = case((SearchEntry.title_key == key, 0), else_=1)
    starts = case((func.substr(SearchEntry.title_key, 1, len(key)) == key, 0), else_=1)
    rows = session.execute(
        stmt.with_only_columns(
            SearchEntry.record_type, SearchEntry.record_id, SearchEntry.title, SearchEntry.subtitle
        )
        .order_by(exact, starts, rank, SearchEntry.title_key, SearchEntry.doc_id)
        .limit(limit + 1)
        .offset(max(0, offset))
    ).all()
    results.more = len(rows) > limit
    results.hits = [Hit(*row) for row in rows[:limit]]
    return results


def describe(session: Session, hits: Sequence[Hit]) -> dict[uuid.UUID, str | None]:
    """For the hits whose record still exists, a line of context read fresh from the records.

    A contact or deal shows its company's name (kept out of the index so that renaming a company
    needs no reindexing of its people); the others their indexed subtitle. A hit whose record is
    gone (removed by a bulk statement the index did not see) is left out.
    """
    from rapport.tenants.companies.models import Company

    models = searchable_types()
    found: dict[uuid.UUID, str | None] = {}
    by_type: dict[str, list[Hit]] = {}
    for hit in hits:
        by_type.setdefault(hit.record_type, []).append(hit)
    for record_type, group in by_type.items():
        model = models.get(record_type)
        if model is None:
            continue
        ids = [hit.record_id for hit in group]
        if record_type in ("contacts", "deals"):
            rows = session.execute(
                select(model.id, Company.name)
                .outerjoin(Company, Company.id == model.company_id)
                .where(model.id.in_(ids))
            ).all()
            names = dict(rows)
            for hit in group:
                if hit.record_id in names:
                    company = names[hit.record_id]
                    parts = [p for p in (hit.subtitle, company) if p]
                    found[hit.record_id] = " · ".join(parts) or None
            continue
        present = set(session.scalars(select(model.id).where(model.id.in_(ids))))
        for hit in group:
            if hit.record_id in present:
                found[hit.record_id] = hit.subtitle
    return found


class _Matches(ColumnElement[bool]):
    """``search_entries`` rows holding every term, in each database's own full-text terms."""

    inherit_cache = False
    # Untyped, not Boolean: SQLite has no boolean type, and SQLAlchemy would render a Boolean
    # element in WHERE as ``(…) = 1``, which keeps SQLite from starting at the full-text matches.
    type = NullType()

    def __init__(self, terms: Sequence[QueryTerm]) -> None:
        self.terms = list(terms)


@compiles(_Matches, "postgresql")
def _matches_postgresql(element: _Matches, compiler: Any, **kw: Any) -> str:
    vector = func.array_to_tsvector(func.string_to_array(SearchEntry.tokens, literal_column("' '")))
    query = literal(_ts_query(element.terms)).cast(TSQUERY)
    return compiler.process(vector.op("@@")(query), **kw)


@compiles(_Matches)
def _matches_sqlite(element: _Matches, compiler: Any, **kw: Any) -> str:
    rows = select(_fts.c.rowid).where(_fts.c.tokens.op("MATCH")(_fts_query(element.terms)))
    return compiler.process(SearchEntry.doc_id.in_(rows), **kw)


def record_filter(record_type: str, query: str) -> ColumnElement[bool]:
    """A WHERE clause on ``record_type``'s model: the records the index matches for ``query``.

    For a list's quick search over a large tenant: it reads the full-text index instead of
    scanning every row with ``ILIKE '%…%'``. Words match as prefixes, CJK as in global search.
    """
    model = searchable_types()[record_type]
    terms = query_terms((query or "")[:MAX_QUERY])
    if not terms:
        return false()
    return model.id.in_(
        select(SearchEntry.record_id).where(SearchEntry.record_type == record_type, _Matches(terms))
    )

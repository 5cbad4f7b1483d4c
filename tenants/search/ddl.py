"""Full-text structures over ``search_entries`` that the metadata cannot declare.

SQLite: an FTS5 table (external content: it reads the tokens from ``search_entries`` by rowid)
kept in step by three triggers, so every write path, ORM or bulk, updates it in the same
transaction. PostgreSQL: a GIN index over the tokens as a ``tsvector``; the lexemes are the
pre-cut tokens as they are (``array_to_tsvector``), so no text-search configuration or parser
touches them. Neither needs a superuser or an extension.

:func:`install` runs where the tenant's tables are created (provisioning) and in the migration
that adds search to existing tenants; it is safe to run twice.
"""

from __future__ import annotations

from sqlalchemy import Connection

from rapport.platform.tenancy.engines import check_schema_name

#: The indexed expression; queries must spell it exactly so for the planner to use the index.
PG_VECTOR_SQL = "array_to_tsvector(string_to_array(tokens, ' '))"
PG_INDEX = "ix_search_entries_tsv"

FTS_TABLE = "search_fts"


_FTS_ADD = "INSERT INTO search_fts(rowid, tokens) VALUES (new.doc_id, new.tokens);"
_FTS_DROP = (
    "INSERT INTO search_fts(search_fts, rowid, tokens) VALUES ('delete', old.doc_id, old.tokens);"
)
#: Trigger name → (when it fires, what it does). Trigger bodies may not qualify table names:
#: they resolve in the trigger's own database file, the tenant's.
_TRIGGERS = {
    "search_entries_fts_insert": ("AFTER INSERT", _FTS_ADD),
    "search_entries_fts_delete": ("AFTER DELETE", _FTS_DROP),
    "search_entries_fts_update": ("AFTER UPDATE OF tokens", _FTS_DROP + " " + _FTS_ADD),
}


def _quoted(schema: str) -> str:
    # The placeholder schema is accepted for the scratch database migration tooling replays on.
    return f'"{schema if schema == "tenant" else check_schema_name(schema)}"'


def sqlite_statements(schema: str) -> list[str]:
    s = _quoted(schema)
    statements = [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {s}.{FTS_TABLE} USING fts5(tokens, "
        "content='search_entries', content_rowid='doc_id', "
        "tokenize='unicode61 remove_diacritics 0', prefix='2 3')"
    ]
    for name, (when, body) in _TRIGGERS.items():
        statements.append(
            f"CREATE TRIGGER IF NOT EXISTS {s}.{name} {when} ON search_entries BEGIN {body} END"
        )
    return statements


def postgres_statements(schema: str) -> list[str]:
    s = _quoted(schema)
    return [
        f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON {s}.search_entries USING gin (({PG_VECTOR_SQL}))"
    ]


def install(connection: Connection, schema: str, dialect: str) -> None:
    """Create the full-text structures of one tenant's search index (idempotent)."""
    statements = sqlite_statements(schema) if dialect == "sqlite" else postgres_statements(schema)
    for statement in statements:
        connection.exec_driver_sql(statement)


def rebuild_sqlite(connection: Connection, schema: str) -> None:
    """Rebuild the FTS5 table from ``search_entries`` (after a bulk load or to repair drift)."""
    s = _quoted(schema)
    # The schema name is checked against the tenant pattern above; nothing here comes from input.
    connection.exec_driver_sql(f"INSERT INTO {s}.search_fts(search_fts) VALUES ('rebuild')")  # noqa: S608


def uninstall(connection: Connection, schema: str, dialect: str) -> None:
    """Drop what :func:`install` created (a migration's downgrade, before dropping the table)."""
    s = _quoted(schema)
    if dialect == "sqlite":
        for name in _TRIGGERS:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {s}.{name}")
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {s}.{FTS_TABLE}")
    else:
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {s}.{PG_INDEX}")

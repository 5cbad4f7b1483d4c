"""Engines for the two planes and the bounded cache of tenant engines.

PostgreSQL: one pooled engine logs in as the application's NOINHERIT role. A tenant's engine is a
lightweight option-engine over that pool carrying the tenant's ``schema_translate_map`` (the ORM
flush honours engine options, not per-statement ones); each transaction then switches role and
search_path with transaction-local ``set_config``, so nothing outlives the transaction on a pooled
connection.

SQLite: each tenant has its own file, ATTACHed under the tenant's schema name to an empty
in-memory main database, on connections of an engine that serves that tenant only.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.pool import QueuePool

from rapport.platform.db import CONTROL_SCHEMA, TENANT_SCHEMA
from rapport.platform.settings import Settings

SCHEMA_RE = re.compile(r"^t_[0-9a-f]{32}$")

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A thread-safe LRU map; memory must not grow with the number of tenants ever seen."""

    def __init__(self, size: int, on_evict: Callable[[V], None] | None = None) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._on_evict = on_evict

    def get_or_create(self, key: K, factory: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = factory()
            self._items[key] = value
            evicted = []
            while len(self._items) > self.size:
                evicted.append(self._items.popitem(last=False)[1])
        for item in evicted:
            if self._on_evict:
                self._on_evict(item)
        return value

    def pop(self, key: K) -> V | None:
        with self._lock:
            value = self._items.pop(key, None)
        if value is not None and self._on_evict:
            self._on_evict(value)
        return value

    def clear(self) -> None:
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
        for item in items:
            if self._on_evict:
                self._on_evict(item)

    def __len__(self) -> int:
        return len(self._items)


def check_schema_name(schema: str) -> str:
    if not SCHEMA_RE.match(schema):
        raise ValueError(f"not a tenant schema name: {schema!r}")
    return schema


def sqlite_pragmas(dbapi_connection: sqlite3.Connection, schema: str | None = None) -> None:
    # Take transaction control from the driver: SQLAlchemy emits BEGIN itself (see begin hook),
    # which makes DDL transactional and the transaction boundaries explicit.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA busy_timeout = 10000")
    cur.execute("PRAGMA foreign_keys = ON")
    prefix = f'"{schema}".' if schema else ""
    cur.execute(f"PRAGMA {prefix}journal_mode = WAL")
    cur.execute(f"PRAGMA {prefix}synchronous = NORMAL")
    cur.close()


def _explicit_begin(conn) -> None:  # type: ignore[no-untyped-def]
    conn.exec_driver_sql("BEGIN")


def install_sqlite_hooks(engine: Engine) -> None:
    """Give a file-backed SQLite engine WAL and explicit BEGIN."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        sqlite_pragmas(dbapi_connection)

    event.listen(engine, "begin", _explicit_begin)


def tenant_sqlite_path(settings: Settings, schema: str) -> Path:
    return settings.tenant_dir / f"{check_schema_name(schema)}.db"


def make_sqlite_tenant_engine(settings: Settings, schema: str) -> Engine:
    path = tenant_sqlite_path(settings, schema)
    path.parent.mkdir(parents=True, exist_ok=True)

    def connect() -> sqlite3.Connection:
        # The main database is empty and in memory: an unqualified table name fails loudly.
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        conn.execute(f'ATTACH DATABASE ? AS "{schema}"', (str(path),))
        sqlite_pragmas(conn, schema)
        return conn

    engine = create_engine(
        "sqlite://",
        creator=connect,
        poolclass=QueuePool,
        pool_size=2,
        max_overflow=8,
        execution_options={"schema_translate_map": {TENANT_SCHEMA: schema, CONTROL_SCHEMA: None}},
    )
    event.listen(engine, "begin", _explicit_begin)
    return engine


def install_schema_budget(engine: Engine, budget: int) -> None:
    """Retire a pooled PostgreSQL connection after it has served ``budget`` tenant schemas.

    A backend keeps the catalog cache of every schema it touched until it exits, so a connection
    that wanders over thousands of tenants grows to gigabytes; recycling it bounds that.
    """

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, proxy):  # type: ignore[no-untyped-def]
        if len(record.info.get("schemas", ())) >= budget:
            raise exc.DisconnectionError("tenant schema budget spent; recycling connection")


def note_schema_used(connection, schema: str) -> None:  # type: ignore[no-untyped-def]
    record_info = (
        connection.connection._connection_record.info
    )  # the pool record outlives checkouts
    record_info.setdefault("schemas", set()).add(schema)


def make_postgres_engine(url: str, settings: Settings, **kwargs) -> Engine:  # type: ignore[no-untyped-def]
    return create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_recycle=settings.pool_recycle_seconds,
        pool_pre_ping=True,
        **kwargs,
    )

"""Keeping the search index in step with the records, in the transaction that changes them.

After every flush of a tenant session, the searchable records that were added, changed or
deleted in it are written to (or removed from) ``search_entries``. Nothing has to remember to
call it: web, API, imports, workflows and jobs all flush through the tenant session.

ORM bulk statements (``session.execute(update(Contact)...)``) skip the flush and so skip this
hook; no service changes a searchable field that way today. ``rapport search reindex`` rebuilds a
tenant's index from its records whenever it is in doubt.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rapport.platform.db import TENANT_SCHEMA, utcnow
from rapport.platform.jobs.registry import job
from rapport.platform.tenancy.models import TenantRef
from rapport.platform.tenancy.scope import TenantSession
from rapport.tenants.search import ddl
from rapport.tenants.search.documents import (
    Document,
    builders,
    leaving_out,
    searchable_types,
    unsearchable,
)
from rapport.tenants.search.models import SearchEntry

_table = SearchEntry.__table__
_UPDATED = ("record_type", "owner_id", "title", "subtitle", "title_key", "tokens")
BATCH = 2000


def _with_other_channels(connection: Connection, documents: Sequence[Document]) -> list[Document]:
    """Contacts' documents with every email address and phone number of theirs, not only the
    primary ones the contact row carries (read with the connection: this runs inside flushes),
    unless some role hides the email or phone field."""
    from rapport.tenants.contacts.models import ContactEmail, ContactPhone

    ids = [d.record_id for d in documents if d.record_type == "contacts"]
    if not ids:
        return list(documents)
    extra: dict[uuid.UUID, list[str]] = {}
    emails, phones = ContactEmail.__table__, ContactPhone.__table__
    left_out = unsearchable("contacts")
    channels = ((emails, emails.c.email, "email"), (phones, phones.c.phone, "phone"))
    for table, column, field in channels:
        if field in left_out:
            continue
        rows = connection.execute(
            select(table.c.contact_id, column).where(
                table.c.contact_id.in_(ids), table.c.is_primary.is_(False)
            )
        )
        for contact_id, value in rows:
            extra.setdefault(contact_id, []).append(value)
            if table is phones:
                extra[contact_id].append("".join(ch for ch in value if ch.isdigit()))
    return [
        dataclasses.replace(d, texts=(*d.texts, *extra[d.record_id])) if d.record_id in extra else d
        for d in documents
    ]


def write(connection: Connection, documents: Sequence[Document]) -> None:
    """Insert or replace the index rows of these documents."""
    if not documents:
        return
    rows = [doc.row() for doc in _with_other_channels(connection, documents)]
    dialect = connection.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_table.c.record_id],
        set_={name: stmt.excluded[name] for name in _UPDATED}
        | {"updated_at": stmt.excluded.updated_at},
    )
    now = utcnow()
    connection.execute(stmt, [{**row, "updated_at": now} for row in rows])


def remove(connection: Connection, record_ids: Iterable[uuid.UUID]) -> None:
    ids = list(record_ids)
    if ids:
        connection.execute(delete(_table).where(_table.c.record_id.in_(ids)))


def _left_out(session: Session) -> dict[str, frozenset[str]]:
    """The fields some role hides (none for the owner connection of a migration, which builds
    the index before roles exist)."""
    from flask import has_app_context

    from rapport.tenants.roles.services import hidden_anywhere

    if "tenant" not in session.info or not has_app_context():
        return {}
    return hidden_anywhere(session)


def _after_flush(session: Session, flush_context: Any) -> None:
    """Index what this flush wrote (``session.new/dirty/deleted`` still hold the flushed state)."""
    with leaving_out(_left_out(session)):
        _index_flushed(session, flush_context)


def _index_flushed(session: Session, _flush_context: Any) -> None:
    indexed = builders()
    changed: dict[uuid.UUID, Document] = {}
    gone: list[uuid.UUID] = []
    for obj in session.new:
        builder = indexed.get(type(obj))
        if builder is not None:
            changed[obj.id] = builder(obj)
    for obj in session.dirty:
        builder = indexed.get(type(obj))
        if builder is not None and session.is_modified(obj, include_collections=False):
            changed[obj.id] = builder(obj)
    for obj in session.deleted:
        if type(obj) in indexed:
            gone.append(obj.id)
            changed.pop(obj.id, None)
    _contacts_of_changed_channels(session, changed, set(gone))
    if not (changed or gone):
        return
    connection = session.connection()
    write(connection, list(changed.values()))
    remove(connection, gone)


def _contacts_of_changed_channels(
    session: Session, changed: dict[uuid.UUID, Document], gone: set[uuid.UUID]
) -> None:
    """A contact whose other addresses or numbers changed is indexed again."""
    from rapport.tenants.contacts.models import Contact, ContactEmail, ContactPhone

    touched = {
        obj.contact_id
        for obj in (*session.new, *session.dirty, *session.deleted)
        if isinstance(obj, ContactEmail | ContactPhone)
    }
    touched -= set(changed) | gone
    builder = builders().get(Contact)
    for contact_id in touched:
        contact = session.identity_map.get(session.identity_key(Contact, contact_id))
        if contact is None:
            with session.no_autoflush:  # inside a flush: no nested one
                contact = session.execute(
                    select(Contact).where(Contact.id == contact_id)
                    .execution_options(rapport_unrestricted=True)
                ).scalar_one_or_none()  # fmt: skip
        if contact is not None and builder is not None:
            changed[contact_id] = builder(contact)


def install_hook() -> None:
    """Listen to every tenant session's flushes (once per process)."""
    if not event.contains(TenantSession, "after_flush", _after_flush):
        event.listen(TenantSession, "after_flush", _after_flush)


def reindex(session: Session, schema: str | None = None) -> dict[str, int]:
    """Rebuild the tenant's whole index from its records; return how many of each were indexed.

    Runs in the caller's transaction: until it commits, searches see the old index. ``schema``
    defaults to the tenant session's own.
    """
    connection = session.connection()
    connection.execute(delete(_table))
    with leaving_out(_left_out(session)):
        counts = _index_all(session, connection)
    if connection.dialect.name == "sqlite":
        ddl.rebuild_sqlite(connection, schema or session.info["tenant"].schema_name)
    return counts


def _index_all(session: Session, connection: Connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    indexed = builders()
    for name, model in searchable_types().items():
        builder = indexed[model]
        counts[name] = 0
        # A large tenant streams through in batches; each batch leaves the session once written.
        result = session.scalars(select(model).execution_options(yield_per=BATCH))
        for records in result.partitions():
            write(connection, [builder(record) for record in records])
            counts[name] += len(records)
            for record in records:
                session.expunge(record)
    return counts


@job("default")
def reindex_tenant(session: Session, tenant: TenantRef, **_: Any) -> dict[str, int]:
    """Rebuild the tenant's index (after the fields some role hides changed)."""
    return reindex(session)


def build(connection: Connection, schema: str) -> dict[str, int]:
    """Fill a tenant's index on an owner connection (the migration that adds search calls this
    after ``ddl.install``, so existing records are found at once)."""
    bound = connection.execution_options(schema_translate_map={TENANT_SCHEMA: schema})
    session = Session(bind=bound)
    try:
        return reindex(session, schema)
    finally:
        session.close()

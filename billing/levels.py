"""Levels a workspace holds (stored records, file storage), counted as they change, capped by
the plan.

Counting every record table on each insert would make writes slower the more a tenant stores.
Instead each tenant schema keeps one :class:`UsageCounter` row per level, changed in the same
transaction as the rows it counts: a tenant session's flush adds its new records (and the sizes
of its new attachments) and subtracts the deleted ones (:func:`count_changes`). Under a hard
cap the change is one conditional ``UPDATE … SET quantity = quantity + n WHERE quantity + n <=
cap``: the row lock it takes makes concurrent writers at the limit queue up and see each other's
totals, so two of them cannot both take the last free place. A refused write changes nothing.
(Audited writers of one tenant already queue on its audit chain's lock until they commit, so the
counter's row lock costs them no concurrency.)

The counter can drift where rows change without a flush (bulk statements, cascades, restores).
The hourly metering job recounts each level exactly (:func:`recount`), with the counter row
locked so no writer slips between the count and the update, and writes the hourly total.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import BigInteger, String, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from rapport.platform.db import TenantBase, utcnow

RECORDS = "records"
STORAGE = "storage_bytes"
MIB = 1024 * 1024


class UsageCounter(TenantBase):
    """The current size of one level of this tenant (``records``, ``storage_bytes``)."""

    __tablename__ = "usage_counters"

    meter: Mapped[str] = mapped_column(String(40), primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    # When the quantity was last counted exactly (it moves with every change in between).
    counted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


_table = UsageCounter.__table__


@functools.cache
def record_models() -> tuple[type, ...]:
    """The models of every registered record type (what "stored records" counts); the registry
    is complete once every tenant model module is imported, which ``all_types`` does first."""
    from rapport.tenants import records

    return tuple(kind.model for kind in records.all_types())


def count_records(session: Session) -> int:
    """Stored records of one tenant, counted exactly (every registered record type)."""
    conn = session.connection()  # not the ORM: no per-user visibility filter may apply
    return sum(
        conn.scalar(select(func.count()).select_from(model)) or 0 for model in record_models()
    )


def count_storage(session: Session) -> int:
    """Bytes of the tenant's attachments, counted exactly."""
    from rapport.tenants.notes.models import Attachment

    total = session.connection().scalar(select(func.coalesce(func.sum(Attachment.size), 0)))
    return int(total or 0)


_EXACT = {RECORDS: count_records, STORAGE: count_storage}


def storage_mb(quantity: int) -> int:
    """Bytes as the whole megabytes the storage meter reports (started ones count)."""
    return math.ceil(quantity / MIB)


def _insert(session: Session, values: dict[str, Any]) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(_table).values(**values).on_conflict_do_nothing(index_elements=["meter"])


def _ensure(session: Session, meter: str) -> None:
    """Create the level's row on first use, counted exactly (the rows this transaction is about
    to add are not flushed yet, so the caller's change comes on top)."""
    conn = session.connection()
    if conn.scalar(select(_table.c.quantity).where(_table.c.meter == meter)) is None:
        values = {"meter": meter, "quantity": _EXACT[meter](session), "counted_at": utcnow()}
        conn.execute(_insert(session, values))


def add(session: Session, meter: str, delta: int, cap: int | None = None) -> int | None:
    """Move the level by ``delta``; return the new total, or None when it would pass ``cap``
    (nothing changed then). A decrease is never refused."""
    conn = session.connection()
    column = _table.c.quantity
    stmt = update(_table).where(_table.c.meter == meter).values(quantity=column + delta)
    if cap is not None and delta > 0:
        stmt = stmt.where(column + delta <= cap)
    stmt = stmt.returning(column)
    for _attempt in (1, 2):
        total = conn.execute(stmt).scalar()
        if total is not None:
            return int(total)
        if conn.scalar(select(column).where(_table.c.meter == meter)) is not None:
            return None  # the row exists: the cap refused it
        _ensure(session, meter)
    return None  # pragma: no cover - the second attempt finds the row


def current(session: Session, meter: str) -> int:
    """The level now, as counted (created exactly on first use)."""
    _ensure(session, meter)
    return int(
        session.connection().scalar(select(_table.c.quantity).where(_table.c.meter == meter)) or 0
    )


def recount(session: Session, meter: str) -> int:
    """Count the level exactly and correct the counter (the hourly job; fixes any drift)."""
    conn = session.connection()
    _ensure(session, meter)
    locked = select(_table.c.quantity).where(_table.c.meter == meter)
    if conn.dialect.name == "postgresql":
        locked = locked.with_for_update()
    conn.execute(locked)  # writers of this level wait until the corrected total is committed
    exact = _EXACT[meter](session)  # a statement after the lock: sees every committed writer
    conn.execute(
        update(_table).where(_table.c.meter == meter).values(quantity=exact, counted_at=utcnow())
    )
    return exact


# -- the flush hook -------------------------------------------------------------------------------
class LimitReached(Exception):
    """Raised by :func:`count_changes` when a level's hard cap refuses the flush; the billing layer
    turns it into the error users see."""

    def __init__(self, meter: str, total: int, cap: int) -> None:
        super().__init__(meter)
        self.meter, self.total, self.cap = meter, total, cap


CapOf = Any  # Callable[[uuid.UUID, str], int | None]


def count_changes(session: Session, cap_of: CapOf) -> None:
    """Add this flush's new records and attachment bytes to the tenant's levels (minus the
    deleted ones), refusing what would pass a hard cap: ``cap_of(tenant_id, meter)``."""
    from rapport.tenants.notes.models import Attachment

    if not has_app_context():
        return
    tenant = session.info.get("tenant")
    if tenant is None or not (session.new or session.deleted):
        return
    models = record_models()
    records = sum(isinstance(o, models) for o in session.new)
    records -= sum(isinstance(o, models) for o in session.deleted)
    stored = sum(o.size or 0 for o in session.new if isinstance(o, Attachment))
    stored -= sum(o.size or 0 for o in session.deleted if isinstance(o, Attachment))
    for meter, delta in ((RECORDS, records), (STORAGE, stored)):
        if not delta:
            continue
        tenant_id = tenant.id
        cap = cap_of(tenant_id, meter) if delta > 0 else None
        if add(session, meter, delta, cap) is None:
            assert cap is not None
            raise LimitReached(meter, current(session, meter), cap)


def enabled() -> bool:
    return has_app_context() and "rapport.levels" in current_app.extensions

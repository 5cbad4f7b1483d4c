"""Writing and verifying the audit hash chains.

Each entry's hash covers its own content and the previous entry's hash, so changing, removing or
reordering any entry breaks every hash after it. Writers serialise per chain: on PostgreSQL with a
transaction-scoped advisory lock (the tenant role cannot lock rows it may not update), on SQLite
through the database's single writer; a unique ``seq`` makes a fork impossible either way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.audit.context import Actor, current_actor, request_facts
from rapport.platform.audit.models import AuditEntry, PlatformAuditEntry
from rapport.platform.db import utcnow

GENESIS = "0" * 64
_HASHED = (
    "seq", "at", "actor_type", "actor_id", "actor_label", "on_behalf_of", "action",
    "target_type", "target_id", "changes", "ip", "user_agent", "request_id", "note",
)  # fmt: skip


def _canonical_time(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _canonical_time(value)
    if isinstance(value, dt.date | uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def entry_hash(entry: AuditEntry | PlatformAuditEntry) -> str:
    body = {name: _jsonable(getattr(entry, name)) for name in _HASHED}
    if isinstance(entry, PlatformAuditEntry):
        body["tenant_id"] = _jsonable(entry.tenant_id)
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((entry.prev_hash + payload).encode()).hexdigest()


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Return ``{field: [old, new]}`` for the fields that changed."""
    keys = before.keys() | after.keys()
    return {
        k: [_jsonable(before.get(k)), _jsonable(after.get(k))]
        for k in sorted(keys)
        if before.get(k) != after.get(k)
    }


def _lock_chain(session: Session, key: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(key)))


def _chain_key(seed: bytes) -> int:
    return int.from_bytes(hashlib.sha256(seed).digest()[:8], "big", signed=True)


def _append(session: Session, model: type, lock_seed: bytes, **fields: Any):  # type: ignore[no-untyped-def]
    _lock_chain(session, _chain_key(lock_seed))
    last = session.execute(
        select(model.seq, model.hash).order_by(model.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    at = utcnow()
    entry = model(seq=seq, at=at, prev_hash=prev, **fields)
    if entry.changes is not None:
        entry.changes = _jsonable(entry.changes)
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush([entry])
    return entry


def _fields(
    action: str,
    target_type: str | None,
    target_id: Any,
    changes: Any,
    actor: Actor | None,
    note: str | None,
) -> dict[str, Any]:
    actor = actor or current_actor()
    facts = request_facts()
    return {
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_label": actor.label,
        "on_behalf_of": actor.on_behalf_of,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id) if target_id is not None else None,
        "changes": changes,
        "note": note,
        **facts,
    }


def record(
    session: Session,
    action: str,
    target_type: str | None = None,
    target_id: Any = None,
    changes: dict[str, Any] | None = None,
    *,
    actor: Actor | None = None,
    note: str | None = None,
) -> AuditEntry:
    """Append an entry to the tenant's chain, in the session's (tenant) transaction."""
    tenant = session.info.get("tenant")
    if tenant is None:
        raise RuntimeError("audit.record needs a tenant session")
    return _append(
        session,
        AuditEntry,
        tenant.id.bytes,
        **_fields(action, target_type, target_id, changes, actor, note),
    )


def record_platform(
    session: Session,
    action: str,
    target_type: str | None = None,
    target_id: Any = None,
    changes: dict[str, Any] | None = None,
    *,
    tenant_id: uuid.UUID | None = None,
    actor: Actor | None = None,
    note: str | None = None,
) -> PlatformAuditEntry:
    """Append an entry to the control plane's chain."""
    return _append(
        session,
        PlatformAuditEntry,
        b"rapport-platform-audit",
        tenant_id=tenant_id,
        **_fields(action, target_type, target_id, changes, actor, note),
    )


@dataclass
class Break:
    seq: int
    entry_id: uuid.UUID
    reason: str


def verify(
    session: Session, model: type = AuditEntry, batch: int = 1000
) -> tuple[int, Break | None]:
    """Walk a chain in order; return how many entries were checked and the first break, if any."""
    prev, expected_seq, count = GENESIS, 1, 0
    for entry in _iter_chain(session, model, batch):
        count += 1
        if entry.seq != expected_seq:
            return count, Break(entry.seq, entry.id, f"entry {expected_seq} is missing")
        if entry.prev_hash != prev:
            return count, Break(entry.seq, entry.id, "does not link to the entry before it")
        if entry_hash(entry) != entry.hash:
            return count, Break(entry.seq, entry.id, "its content was changed after it was written")
        prev, expected_seq = entry.hash, expected_seq + 1
    return count, None


def _iter_chain(session: Session, model: type, batch: int) -> Iterator[Any]:
    last = 0
    while True:
        rows = session.scalars(
            select(model).where(model.seq > last).order_by(model.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()

"""Timeline entries the platform already records: the audit log and deal stage changes.

- ``created``: the record was created or deleted (and, on a company's timeline, its contacts and
  deals were).
- ``change``: fields changed, read from the audit log as "City: Paris → Lyon", with ids of
  companies and stages shown by name and custom fields by their label.
- ``stage``: a deal moved between stages (on a company's timeline: its deals did).

A deal's move is audited too (``deal.stage_changed``); it is shown once, from its
``DealStageChange`` row, which also survives a renamed stage.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from rapport.platform.audit.models import AuditEntry
from rapport.tenants import records
from rapport.tenants.timeline import Entry

KINDS: dict[str, str] = {
    "created": "Created and deleted",
    "change": "Field changes",
    "stage": "Stage changes",
}

#: Audit actions shown by another kind (or not at all).
_SKIPPED = {"deal.stage_changed"}
#: How many related contacts and deals a company's timeline follows (the most recent ones).
RELATED_LIMIT = 200

_LABELS = {
    "company_id": "Company", "stage_id": "Stage", "pipeline_id": "Pipeline",
    "owner_id": "Owner", "expected_close_date": "Expected close date", "first_name": "First name",
    "last_name": "Last name", "lost_reason": "Lost reason", "email": "Email",
}  # fmt: skip


def _singular(target_type: str) -> str:
    try:
        return records.get(target_type).singular
    except KeyError:
        return target_type.rstrip("s")


def _field_labels(session: Session, target_type: str) -> dict[str, str]:
    from rapport.tenants.fields.models import FieldDefinition

    rows = session.execute(
        select(FieldDefinition.api_name, FieldDefinition.label).where(
            FieldDefinition.record_type == target_type
        )
    ).all()
    return {f"custom.{api_name}": label for api_name, label in rows}


def label_for(field: str, custom_labels: dict[str, str]) -> str:
    if field in custom_labels:
        return custom_labels[field]
    if field in _LABELS:
        return _LABELS[field]
    return field.removeprefix("custom.").replace("_", " ").capitalize()


def _names_for_ids(session: Session, entries: Sequence[AuditEntry]) -> dict[str, str]:
    """Names of the companies and stages that audit diffs mention by id."""
    from rapport.tenants.companies.models import Company
    from rapport.tenants.pipelines.models import Pipeline, Stage

    wanted: dict[str, set[uuid.UUID]] = {
        "company_id": set(),
        "stage_id": set(),
        "pipeline_id": set(),
    }
    for entry in entries:
        for field, pair in (entry.changes or {}).items():
            if field in wanted:
                for value in pair:
                    try:
                        wanted[field].add(uuid.UUID(str(value)))
                    except ValueError:
                        continue
    names: dict[str, str] = {}
    for field, model in (("company_id", Company), ("stage_id", Stage), ("pipeline_id", Pipeline)):
        if wanted[field]:
            rows = session.execute(select(model.id, model.name).where(model.id.in_(wanted[field])))
            names.update({str(row_id): name for row_id, name in rows})
    return names


def _show(value: Any, field: str, names: dict[str, str]) -> str:
    if value is None or value == "":
        return "empty"
    if field in ("company_id", "stage_id", "pipeline_id"):
        return names.get(str(value), "a deleted record")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "empty"
    return str(value)


def _audit_entries(
    session: Session,
    target: str,
    ids: Iterable[uuid.UUID],
    limit: int,
    actions: Sequence[str] | None = None,
) -> list[AuditEntry]:
    keys = [str(i) for i in ids]
    if not keys:
        return []
    stmt = select(AuditEntry).where(
        AuditEntry.target_type == target, AuditEntry.target_id.in_(keys)
    )
    if actions is not None:
        stmt = stmt.where(AuditEntry.action.in_(actions))
    else:
        stmt = stmt.where(AuditEntry.action.not_in(_SKIPPED))
    return list(session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit)))


def _hidden_of(session: Session, record_type: str) -> frozenset[str]:
    """Fields the acting role may not see, for a record type named plural or singular."""
    from rapport.tenants import records
    from rapport.tenants.roles import access

    if not records.exists(record_type):
        record_type = next(
            (k.name for k in records.all_types() if k.singular == record_type), record_type
        )
    return access.hidden(session, record_type) if records.exists(record_type) else frozenset()


def _verb(action: str) -> str:
    return action.rsplit(".", 1)[-1].replace("_", " ")


def _from_audit(
    session: Session,
    entries: Sequence[AuditEntry],
    target_type: str,
    *,
    related: dict[str, tuple[str, str]] | None = None,
) -> list[Entry]:
    """Timeline entries from audit entries; ``related`` maps a record id to (type, name)."""
    custom_labels = _field_labels(session, target_type)
    names = _names_for_ids(session, entries)
    out: list[Entry] = []
    for audit in entries:
        verb = _verb(audit.action)
        subject = related.get(audit.target_id or "") if related else None
        # The history of a field the member's role may not see is not shown either.
        hidden = _hidden_of(session, subject[0] if subject else target_type)
        changes = [
            (label_for(field, custom_labels), _show(pair[0], field, names),
             _show(pair[1], field, names))
            for field, pair in sorted((audit.changes or {}).items())
            if isinstance(pair, list) and len(pair) == 2
            and field.removeprefix("custom.") not in hidden
        ]  # fmt: skip
        meta: dict[str, Any] = {"action": audit.action, "changes": changes}
        if subject is not None:
            record_type, name = subject
            meta.update(record_type=record_type, record_id=audit.target_id)
            noun = f"{_singular(record_type).capitalize()} {name}"
            title = f"{noun} {verb}"
            meta["changes"] = [] if verb in ("created", "deleted") else changes
        elif verb in ("created", "deleted"):
            title = f"{_singular(target_type).capitalize()} {verb}"
        elif verb == "updated":
            fields = [label for label, _old, _new in changes]
            title = "Changed " + _and(fields) if fields else "Saved without changes"
        else:
            title = verb.capitalize()
        out.append(
            Entry(
                at=audit.at,
                kind="created" if verb in ("created", "deleted") else "change",
                title=title,
                body=audit.note,
                actor=audit.actor_label or audit.actor_type,
                meta=meta,
            )
        )
    return out


def _and(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _stage_changes(
    session: Session,
    deal_ids: Sequence[uuid.UUID],
    limit: int,
    *,
    deal_names: dict[uuid.UUID, str] | None = None,
) -> list[Entry]:
    from rapport.tenants.deals.models import DealStageChange
    from rapport.tenants.pipelines.models import Stage

    if not deal_ids:
        return []
    before, after = aliased(Stage), aliased(Stage)
    rows = session.execute(
        select(DealStageChange, before.name, after.name)
        .outerjoin(before, before.id == DealStageChange.from_stage_id)
        .outerjoin(after, after.id == DealStageChange.to_stage_id)
        .where(DealStageChange.deal_id.in_(list(deal_ids)))
        # The first row of a deal is the stage it was created in: its "created" entry says so.
        .where(DealStageChange.from_stage_id.is_not(None))
        .order_by(DealStageChange.changed_at.desc(), DealStageChange.id.desc())
        .limit(limit)
    ).all()
    out = []
    for change, from_name, to_name in rows:
        moved = f"from {from_name or 'a deleted stage'} to {to_name or 'a deleted stage'}"
        meta: dict[str, Any] = {"from": from_name, "to": to_name}
        if deal_names is not None:
            title = f"Deal {deal_names.get(change.deal_id, '')} moved {moved}"
            meta.update(record_type="deals", record_id=str(change.deal_id))
        else:
            title = f"Moved {moved}"
        out.append(
            Entry(
                at=change.changed_at,
                kind="stage",
                title=title,
                actor=change.changed_by_label,
                meta=meta,
            )
        )
    return out


def _company_related(
    session: Session, company_id: uuid.UUID
) -> tuple[dict[str, tuple[str, str]], list[uuid.UUID], dict[uuid.UUID, str]]:
    from rapport.tenants.contacts.models import Contact
    from rapport.tenants.deals.models import Deal

    related: dict[str, tuple[str, str]] = {}
    contacts = session.execute(
        select(Contact.id, Contact.first_name, Contact.last_name)
        .where(Contact.company_id == company_id)
        .order_by(Contact.created_at.desc())
        .limit(RELATED_LIMIT)
    ).all()
    for cid, first, last in contacts:
        related[str(cid)] = ("contacts", " ".join(p for p in (first, last) if p))
    deals = session.execute(
        select(Deal.id, Deal.name)
        .where(Deal.company_id == company_id)
        .order_by(Deal.created_at.desc())
        .limit(RELATED_LIMIT)
    ).all()
    deal_names = {did: name for did, name in deals}
    for did, name in deals:
        related[str(did)] = ("deals", name)
    return related, list(deal_names), deal_names


def entries(session: Session, target_type: str, target_id: uuid.UUID, *, limit: int) -> list[Entry]:
    """The newest ``limit`` audit-log and stage entries about one record (and its relatives)."""
    if not records.exists(target_type):
        return []
    own = _audit_entries(session, _singular(target_type), [target_id], limit)
    found = _from_audit(session, own, target_type)
    if target_type == "deals":
        found += _stage_changes(session, [target_id], limit)
    elif target_type == "companies":
        related, deal_ids, deal_names = _company_related(session, target_id)
        contact_ids = [uuid.UUID(k) for k, (t, _n) in related.items() if t == "contacts"]
        # Their creation only: their own changes are on their own timelines.
        about_contacts = _audit_entries(
            session, "contact", contact_ids, limit, actions=("contact.created",)
        )
        about_deals = _audit_entries(session, "deal", deal_ids, limit, actions=("deal.created",))
        found += _from_audit(session, about_contacts + about_deals, target_type, related=related)
        found += _stage_changes(session, deal_ids, limit, deal_names=deal_names)
    return found

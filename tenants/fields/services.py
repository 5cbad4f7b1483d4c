"""Field definition operations and the helpers record services use to store custom values.

Like every service these validate, change, audit and flush, and never commit. A change marks the
session (``queries.CHANGED``) and notes the field's index spec; after the commit,
``after_commit`` builds or drops the expression indexes and bumps the tenant's cache version.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from flask import has_app_context
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from rapport.platform.audit import chain as audit
from rapport.platform.db import utcnow
from rapport.platform.errors import ValidationFailed
from rapport.platform.tenancy.models import TenantRef
from rapport.platform.tenancy.scope import TenantSession, tenant_committed
from rapport.tenants import events
from rapport.tenants.companies.schemas import load
from rapport.tenants.fields import computed, config, indexes, rollup
from rapport.tenants.fields.filters import _comparable, record_model
from rapport.tenants.fields.models import FieldDefinition
from rapport.tenants.fields.queries import CHANGED, Field, bump_version, fields_for, get_definition
from rapport.tenants.fields.schemas import FieldSchema, parse_options
from rapport.tenants.fields.validation import Invalid, coerce, validate_custom
from rapport.tenants.roles import access
from rapport.tenants.roles.access import unrestricted

PENDING = "rapport.fields.pending"
AUDITED = (
    "label", "help_text", "type", "required", "unique", "filterable", "default", "min_value",
    "max_value", "min_length", "max_length", "pattern", "options", "section", "position", "config",
)  # fmt: skip
#: Type changes allowed in this increment: only between types stored the same way.
SAME_STORAGE = ({"text", "long_text"}, {"decimal", "percent"})


def snapshot(row: FieldDefinition) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in AUDITED}
    for key in ("min_value", "max_value"):
        if values[key] is not None:
            values[key] = indexes_plain(values[key])
    return values


def indexes_plain(number: Any) -> str:
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _spec(row: FieldDefinition, *, deleted: bool = False) -> dict[str, Any]:
    return {
        "id": str(row.id), "record_type": row.record_type, "api_name": row.api_name,
        "type": row.type, "unique": row.unique, "filterable": row.filterable, "deleted": deleted,
    }  # fmt: skip


def _changed(session: Session, row: FieldDefinition, *, deleted: bool = False) -> None:
    session.info[CHANGED] = True
    session.info.setdefault(PENDING, {})[str(row.id)] = _spec(row, deleted=deleted)


def _frozen(row: FieldDefinition) -> Field:
    from rapport.tenants.fields.queries import _freeze

    return _freeze(row)


def _check_default(session: Session, row: FieldDefinition) -> None:
    if row.default in (None, ""):
        row.default = None
        return
    try:
        row.default = coerce(_frozen(row), row.default, tenant_id=session.info["tenant"].id)
    except Invalid as exc:
        raise ValidationFailed({"default": [str(exc)]}) from None


def _check_no_duplicates(session: Session, row: FieldDefinition) -> None:
    """Refuse to make a field unique while records share a value (the index would fail)."""
    if not row.unique:
        return
    model = record_model(row.record_type)
    expr = indexes.expression(model.custom, row.api_name, session.get_bind().dialect.name)
    duplicate = session.execute(
        select(expr).where(expr.is_not(None)).group_by(expr).having(func.count() > 1).limit(1)
    ).first()
    if duplicate is not None:
        raise ValidationFailed(
            {"unique": [f"Some records share the value “{duplicate[0]}”; make them differ first."]}
        )


def create_field(session: Session, data: Mapping[str, Any]) -> FieldDefinition:
    """Define a custom field; raise ValidationFailed naming the bad settings."""
    values = load(FieldSchema(), _without_config(data))
    values["options"] = parse_options(values.get("options"))
    values["config"] = config.build(
        session, values["record_type"], values["api_name"], values["type"], data
    )
    taken = session.scalar(
        select(FieldDefinition.id).where(
            FieldDefinition.record_type == values["record_type"],
            FieldDefinition.api_name == values["api_name"],
        )
    )
    if taken is not None:
        raise ValidationFailed(
            {"api_name": ["A field with this API name exists (perhaps archived)."]}
        )
    last = session.scalar(
        select(func.max(FieldDefinition.position)).where(
            FieldDefinition.record_type == values["record_type"]
        )
    )
    row = FieldDefinition(**values, position=(last if last is not None else -1) + 1)
    _check_default(session, row)
    session.add(row)
    session.flush()
    _changed(session, row)
    if row.type in config.COMPUTED:
        config.recompute(session, _frozen(row))
    audit.record(
        session, "field.created", "field", row.id,
        audit.diff({}, {"record_type": row.record_type, "api_name": row.api_name, **snapshot(row)}),
    )  # fmt: skip
    return row


def update_field(
    session: Session, field_id: uuid.UUID | str, data: Mapping[str, Any]
) -> FieldDefinition:
    """Change a field's settings; the API name and record type never change."""
    row = get_definition(session, field_id)
    incoming = {**dict(data), "record_type": row.record_type, "api_name": row.api_name}
    incoming.setdefault("type", row.type)
    values = load(FieldSchema(), _without_config(incoming))
    values["options"] = parse_options(values.get("options"))
    if values["type"] != row.type and not any(
        {values["type"], row.type} <= group for group in SAME_STORAGE
    ):
        from rapport.tenants.fields.conversion import CONVERSIONS

        hint = (
            "Use “Change type” to preview and convert the values."
            if values["type"] in CONVERSIONS.get(row.type, ())
            else "Changing to this type is not possible; create a new field instead."
        )
        raise ValidationFailed({"type": [hint]})
    if row.type in config.CONFIGURED:
        merged = {**config.form_values(row.config, row.type), **dict(data)}
        values["config"] = config.build(
            session, row.record_type, row.api_name, row.type, merged, current=_frozen(row)
        )
    if row.type in ("single_select", "multi_select"):
        kept = {o["value"] for o in values["options"]}
        gone = [o["value"] for o in row.options or () if o["value"] not in kept]
        if gone:
            raise ValidationFailed(
                {
                    "options": [
                        f"Retire options instead of removing them (missing: {', '.join(gone)})."
                    ]
                }
            )
    before = snapshot(row)
    for name in AUDITED:
        if name in values and name != "position":
            setattr(row, name, values[name])
    _check_default(session, row)
    _check_no_duplicates(session, row)
    changes = audit.diff(before, snapshot(row))
    if changes:
        session.flush()
        _changed(session, row)
        audit.record(session, "field.updated", "field", row.id, changes)
        if row.type in config.COMPUTED and "config" in changes:
            config.recompute(session, _frozen(row))
    return row


def _without_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """Input minus the computed-field settings, which ``config.build`` reads instead."""
    return {k: v for k, v in dict(data).items() if k not in config.INPUT_KEYS}


def archive_field(
    session: Session, field_id: uuid.UUID | str, *, archived: bool = True
) -> FieldDefinition:
    """Hide a field from forms and the API (its values stay), or bring it back."""
    row = get_definition(session, field_id)
    if (row.archived_at is not None) == archived:
        return row
    row.archived_at = utcnow() if archived else None
    session.flush()
    _changed(session, row)
    action = "field.archived" if archived else "field.restored"
    audit.record(session, action, "field", row.id, {"archived": [not archived, archived]})
    return row


def delete_field(session: Session, field_id: uuid.UUID | str, confirmation: str) -> int:
    """Delete a field and remove its values from every record; return how many records had one."""
    row = get_definition(session, field_id)
    if (confirmation or "").strip() != row.api_name:
        raise ValidationFailed({"confirmation": [f"Type {row.api_name} to confirm."]})
    readers = config.dependents(session, row)
    if readers:
        raise ValidationFailed(
            {
                "confirmation": [
                    f"These computed fields read this field: {', '.join(readers)}. "
                    "Change or delete them first."
                ]
            }  # fmt: skip
        )
    # The definition goes first: clearing values flushes the records, and a flush recomputes the
    # formulas still defined (a formula's own value would come back).
    _changed(session, row, deleted=True)
    before = {"record_type": row.record_type, "api_name": row.api_name, **snapshot(row)}
    session.delete(row)
    session.flush()
    model = record_model(row.record_type)
    expr = indexes.expression(model.custom, row.api_name, session.get_bind().dialect.name)
    cleared = 0
    for record in session.scalars(select(model).where(expr.is_not(None))):
        custom = dict(record.custom or {})
        if custom.pop(row.api_name, None) is not None:
            record.custom = custom
            flag_modified(record, "custom")
            cleared += 1
    session.flush()
    changes = audit.diff(before, {})
    changes["records_with_values"] = [cleared, 0]  # how many records lost a value
    audit.record(session, "field.deleted", "field", row.id, changes)
    return cleared


def reorder_fields(
    session: Session, record_type: str, field_ids: Sequence[uuid.UUID | str]
) -> None:
    """Put the record type's fields in this order (ids not listed keep their place after them)."""
    rows = list(
        session.scalars(
            select(FieldDefinition)
            .where(FieldDefinition.record_type == record_type)
            .order_by(FieldDefinition.position, FieldDefinition.created_at)
        )
    )
    by_id = {str(r.id): r for r in rows}
    ordered = [by_id[str(i)] for i in field_ids if str(i) in by_id]
    ordered += [r for r in rows if r not in ordered]
    before = [r.api_name for r in rows]
    for position, row in enumerate(ordered):
        row.position = position
    after = [r.api_name for r in ordered]
    if before != after:
        session.flush()
        session.info[CHANGED] = True
        audit.record(session, "field.reordered", "field", None, {"order": [before, after]})


# -- used by the record services ------------------------------------------------------------------
def custom_input(data: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """Split input into the built-in fields and the ``custom`` object (None when absent)."""
    rest = dict(data)
    custom = rest.pop("custom", None)
    return rest, custom


def custom_snapshot(custom: Mapping[str, Any] | None) -> dict[str, Any]:
    """Custom values keyed ``custom.<api_name>``, for audit diffs."""
    return {f"custom.{k}": v for k, v in sorted((custom or {}).items())}


def check_unique(session: Session, record_type: str, record: Any) -> None:
    """Refuse values another record of this type already holds in a unique field."""
    model = record_model(record_type)
    dialect = session.get_bind().dialect.name
    errors = {}
    for field in fields_for(session, record_type, archived=True):
        value = (record.custom or {}).get(field.api_name)
        if not field.unique or value is None:
            continue
        expr = indexes.expression(model.custom, field.api_name, dialect)
        # Uniqueness is over every record, including those the acting role does not see.
        stmt = (
            select(model.id)
            .where(expr == _comparable(field, value, dialect))
            .limit(1)
            .execution_options(rapport_unrestricted=True)
        )
        if record.id is not None:
            stmt = stmt.where(model.id != record.id)
        with session.no_autoflush:
            if session.scalar(stmt) is not None:
                errors[f"custom.{field.api_name}"] = [
                    f"Another record already has this {field.label} (unique)."
                ]
    if errors:
        raise ValidationFailed(errors)


def flush_unique(session: Session, record_type: str, record: Any) -> None:
    """Flush a record; a unique index refusing it (a concurrent write) becomes ValidationFailed."""
    check_unique(session, record_type, record)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        text = str(exc.orig)
        for field in fields_for(session, record_type, archived=True):
            if field.unique and field.id.hex in text:
                raise ValidationFailed(
                    {
                        f"custom.{field.api_name}": [
                            f"Another record already has this {field.label} (unique)."
                        ]
                    }
                ) from None
        raise


def assign(
    session: Session,
    record: Any,
    values: Mapping[str, Any],
    custom: dict[str, Any] | None,
    *,
    record_type: str,
) -> None:
    """Set the values that differ, and the new ``custom`` (None: leave it as it is).

    A form does not offer the fields the member's role may not change: their absence (an empty
    value) keeps what the record holds. A value sent for one is refused when it is flushed.
    """
    locked = access.read_only(session, record_type)
    for name, value in values.items():
        if name in locked and value in (None, "", [], {}):
            continue
        if getattr(record, name) != value:
            setattr(record, name, value)
    if custom is not None and custom != (record.custom or {}):
        record.custom = custom


def apply_changes(
    session: Session,
    record: Any,
    values: Mapping[str, Any],
    custom: dict[str, Any] | None,
    *,
    record_type: str,
    snapshot: Any,
    action: str,
    target_type: str,
) -> dict[str, Any]:
    """Set what changed on a customizable record and audit it: one entry, none if nothing did.

    Every record type's update service ends here, so they all diff, check uniqueness and audit
    the same way; returns the audited changes.
    """
    before = snapshot(record)
    assign(session, record, values, custom, record_type=record_type)
    changes = audit.diff(before, snapshot(record))
    if changes:
        flush_unique(session, record_type, record)
        audit.record(session, action, target_type, record.id, changes)
        events.emit(
            session, action, record_type, record.id, {**snapshot(record), "changes": changes}
        )
    return changes


def load_with_custom(
    session: Session,
    record_type: str,
    loader: Any,
    data: Mapping[str, Any],
    *,
    existing: Mapping[str, Any] | None = None,
    partial: bool = False,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Validate built-in fields with ``loader`` and ``custom`` with the one validator, together.

    Returns the built-in values and the record's new ``custom`` (None: leave it as it is). Errors
    of both are raised at once, so a form shows every problem in one round.
    """
    rest, custom = custom_input(data)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    try:
        values = loader(rest)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    result = None
    if not (partial and custom is None):
        try:
            result = validate_custom(
                session, record_type, custom, existing=existing, partial=partial
            )
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return values, result


def store_custom(
    session: Session,
    record_type: str,
    record: Any,
    values: Any,
    *,
    partial: bool = False,
    new: bool = False,
) -> None:
    """Validate custom input with the one validator and put the result on the record."""
    if values is None and partial:
        return
    result = validate_custom(
        session,
        record_type,
        values,
        existing=None if new else dict(record.custom or {}),
        partial=partial,
    )
    if result != (record.custom or {}):
        record.custom = result  # a new dict: the change is seen without flag_modified


# -- after the commit -----------------------------------------------------------------------------
def _after_commit(_sender: Any, tenant: TenantRef, info: dict[str, Any], **_: Any) -> None:
    pending = info.pop(PENDING, None)
    changed = info.pop(CHANGED, None)
    for spec in (pending or {}).values():
        indexes.sync(tenant, spec)
    if changed or pending:
        bump_version(tenant.id)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if not has_app_context() or "tenant" not in session.info:
        return
    # Derived values are computed over every record, whoever's change caused the recompute.
    with unrestricted(session):
        rollup.note_changes(session)
        computed.refresh(session, (*session.new, *session.dirty))


def _after_flush_postexec(session: Session, _context: Any) -> None:
    if has_app_context() and "tenant" in session.info:
        with unrestricted(session):
            rollup.apply_pending(session)


def init_app(_app: Any = None) -> None:
    """Build indexes and invalidate caches after commits that changed definitions; keep formula
    and roll-up values current on every flush of a tenant session."""
    tenant_committed.connect(_after_commit, weak=False)
    if not event.contains(TenantSession, "before_flush", _before_flush):
        event.listen(TenantSession, "before_flush", _before_flush)
        event.listen(TenantSession, "after_flush_postexec", _after_flush_postexec)

"""Roll-up fields: count, sum, min or max of related records, stored on the parent record.

Related records are those of a registered record type whose model has a foreign key column to
the parent's table (``deals.company_id`` -> companies). The values are kept current generically,
with events on the tenant session rather than in each feature's services:

* ``before_flush`` notes, for every new, changed or deleted related record, the parents it
  belongs to now and belonged to before (so a move updates both);
* ``after_flush_postexec``, when the database already holds those rows, aggregates them for the
  noted parents and puts the results on the parents, which the same transaction then writes
  (their own formulas recompute on that flush).

Aggregates are computed in Python over the selected values (not in SQL), so decimals stay exact
and both backends agree.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, attributes

from rapport.tenants import records
from rapport.tenants.fields.computed import built_in_kinds, custom_kind, read
from rapport.tenants.fields.queries import Field

AGGREGATES = ("count", "sum", "min", "max")
AGGREGATE_LABELS = {"count": "Count", "sum": "Sum", "min": "Minimum", "max": "Maximum"}
PENDING = "rapport.rollups.pending"
_BATCH = 500


def link_columns(related: str, parent: str) -> list[str]:
    """The columns of ``related`` records that point to a ``parent`` record."""
    model = records.get(related).model
    target = records.get(parent).table
    found = []
    for attr in inspect(model).column_attrs:
        column = attr.columns[0]
        if any(fk.column.table.name == target for fk in column.foreign_keys):
            found.append(attr.key)
    return found


def relations(parent: str) -> list[tuple[str, str]]:
    """Every (related record type, link column) that can roll up into ``parent``."""
    return [
        (kind.name, link)
        for kind in records.all_types()
        if kind.name != parent
        for link in link_columns(kind.name, parent)
    ]


def numeric_fields(related: str, fields: Iterable[Field]) -> list[str]:
    """The fields of ``related`` a sum, min or max can read: numeric built-ins and custom."""
    names = [
        name
        for name, kind in built_in_kinds(records.get(related).model).items()
        if kind == "number" and not name.endswith("position")
    ]
    names += [
        f"custom.{f.api_name}"
        for f in fields
        if f.record_type == related and custom_kind(f) == "number"
    ]
    return names


def check_config(
    parent: str, config: Mapping[str, Any], fields: Iterable[Field]
) -> dict[str, list[str]]:
    """Errors of a roll-up configuration, keyed by the form field they belong to."""
    fields = list(fields)
    errors: dict[str, list[str]] = {}
    related, link = config.get("related"), config.get("link")
    pairs = relations(parent)
    if not related or (related, link) not in pairs:
        choices = ", ".join(f"{r} by {c}" for r, c in pairs) or "none"
        errors["rollup_related"] = [f"Choose related records that point here ({choices})."]
        return errors
    aggregate = config.get("aggregate")
    if aggregate not in AGGREGATES:
        errors["rollup_aggregate"] = ["Choose count, sum, minimum or maximum."]
    elif aggregate != "count" and config.get("field") not in numeric_fields(related, fields):
        errors["rollup_field"] = ["Choose a number field of the related records."]
    filter_field = config.get("filter_field")
    if filter_field:
        known = set(built_in_kinds(records.get(related).model)) | {
            f"custom.{f.api_name}" for f in fields if f.record_type == related
        }
        if filter_field not in known:
            errors["rollup_filter_field"] = ["Choose a field of the related records."]
    return errors


# -- computing -------------------------------------------------------------------------------------
def _value_column(model: Any, name: str | None) -> Any:
    if not name:
        return None
    if name.startswith("custom."):
        return model.custom
    return getattr(model, name)


def _pick(row_value: Any, name: str | None) -> Any:
    if name and name.startswith("custom.") and isinstance(row_value, Mapping):
        return row_value.get(name.removeprefix("custom."))
    return row_value


def _matches(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return (
            str(wanted).strip().lower() in ("1", "true", "yes", "on")
            if value
            else (str(wanted).strip().lower() in ("0", "false", "no", "off", ""))
        )
    if value is None:
        return wanted in ("", None)
    if isinstance(value, list):
        return wanted in value
    number = read("number", value) if not isinstance(value, str) else None
    if number is not None:
        other = read("number", wanted)
        return other is not None and number == other
    return str(value) == str(wanted)


def aggregate(
    session: Session, field: Field, parents: Iterable[uuid.UUID] | None
) -> dict[uuid.UUID, str | None]:
    """The roll-up's stored value for these parents (all parents when None)."""
    config = field.config or {}
    model = records.get(config["related"]).model
    link = getattr(model, config["link"])
    kind, target, flt = config["aggregate"], config.get("field"), config.get("filter_field")
    columns = [link, _value_column(model, target) if kind != "count" else None]
    columns.append(_value_column(model, flt) if flt else None)
    chosen = [c for c in columns if c is not None]
    buckets: dict[uuid.UUID, list[Any]] = defaultdict(list)
    parent_ids = None if parents is None else list(parents)
    batches = (
        [None]
        if parent_ids is None
        else [parent_ids[i : i + _BATCH] for i in range(0, len(parent_ids), _BATCH)]
    )
    for batch in batches:
        stmt = select(*chosen).where(link.is_not(None))
        if batch is not None:
            stmt = stmt.where(link.in_(batch))
        with session.no_autoflush:
            rows = session.execute(stmt).all()
        for row in rows:
            values = list(row)
            parent_id = values.pop(0)
            value = _pick(values.pop(0), target) if kind != "count" else None
            if flt and not _matches(_pick(values.pop(0), flt), config.get("filter_value") or ""):
                continue
            buckets[parent_id].append(value)
    result: dict[uuid.UUID, str | None] = {}
    for parent_id in parent_ids if parent_ids is not None else list(buckets):
        result[parent_id] = _reduce(kind, buckets.get(parent_id, []))
    return result


def _reduce(kind: str, values: list[Any]) -> str | None:
    if kind == "count":
        return str(len(values))
    numbers = [n for n in (read("number", v) for v in values) if n is not None]
    if kind == "sum":
        total = sum(numbers, Decimal(0))
    elif not numbers:
        return None
    else:
        total = min(numbers) if kind == "min" else max(numbers)
    text = format(total, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _put(record: Any, api_name: str, value: str | None) -> bool:
    custom = dict(record.custom or {})
    if custom.get(api_name) == value or (value is None and api_name not in custom):
        return False
    if value is None:
        custom.pop(api_name, None)
    else:
        custom[api_name] = value
    record.custom = custom
    return True


def recompute_all(session: Session, field: Field) -> int:
    """Recompute a roll-up on every parent record; return how many values changed."""
    model = records.get(field.record_type).model
    values = aggregate(session, field, None)
    empty = _reduce(field.config["aggregate"], [])
    changed = 0
    for record in session.scalars(select(model)):
        changed += _put(record, field.api_name, values.get(record.id, empty))
    session.flush()
    return changed


# -- keeping them current --------------------------------------------------------------------------
def _rollups(session: Session) -> list[Field]:
    from rapport.tenants.fields.queries import all_fields

    return [f for f in all_fields(session) if f.type == "rollup" and f.config]


def note_changes(session: Session) -> None:
    """Before a flush: note the parents whose roll-ups the pending changes affect."""
    types = {kind.model: kind.name for kind in records.all_types()}
    touched = [
        (obj, state)
        for state, group in (
            ("new", session.new),
            ("dirty", session.dirty),
            ("deleted", session.deleted),
        )  # fmt: skip
        for obj in group
        if type(obj) in types
    ]
    if not touched:
        return
    rollups = _rollups(session)
    if not rollups:
        return
    pending: dict[uuid.UUID, set[Any]] = session.info.setdefault(PENDING, {})
    by_related: dict[str, list[Field]] = defaultdict(list)
    by_parent: dict[str, list[Field]] = defaultdict(list)
    for field in rollups:
        by_related[field.config["related"]].append(field)
        by_parent[field.record_type].append(field)
    for obj, state in touched:
        if state == "new":
            # A new parent starts empty (0 for count and sum); related records created in the
            # same flush are counted after it.
            for field in by_parent.get(types[type(obj)], ()):
                if field.api_name not in (obj.custom or {}):
                    _put(obj, field.api_name, _reduce(field.config["aggregate"], []))
        for field in by_related.get(types[type(obj)], ()):
            link = field.config["link"]
            if state == "dirty" and not session.is_modified(obj):
                continue
            history = attributes.get_history(obj, link)
            parents = {*history.added, *history.unchanged, *history.deleted}
            if state != "deleted":
                parents.add(getattr(obj, link))
            parents.discard(None)
            if parents:
                pending.setdefault(field.id, set()).update(parents)


def apply_pending(session: Session) -> None:
    """After a flush: put fresh roll-up values on the noted parents (written by the next flush)."""
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    fields = {f.id: f for f in _rollups(session)}
    for field_id, parents in pending.items():
        field = fields.get(field_id)
        if field is None:
            continue
        model = records.get(field.record_type).model
        for parent_id, value in aggregate(session, field, parents).items():
            with session.no_autoflush:
                record = session.get(model, parent_id)
            if record is not None and record not in session.deleted:
                _put(record, field.api_name, value)

"""Formula values: what a formula may read on a record, and computing them on every write.

Formula values are stored in the record's ``custom`` like any value, so lists, filters, exports
and the API read them without knowing they are computed. They are recomputed before every flush
of a new or changed record (``before_flush`` on the tenant session, see :func:`install`), whatever
the path that changed it: a web form, the API, an import, a workflow, a roll-up.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session

from rapport.tenants import records
from rapport.tenants.fields import formula
from rapport.tenants.fields.queries import Field

#: The formula type a custom field is read as.
CUSTOM_KINDS = {
    "integer": "number", "decimal": "number", "percent": "number", "currency": "number",
    "rollup": "number", "date": "date", "datetime": "date", "checkbox": "checkbox",
}  # fmt: skip


def custom_kind(field: Field) -> str:
    if field.type == "formula":
        return formula.RESULT_KIND[(field.config or {}).get("result_type", "text")]
    return CUSTOM_KINDS.get(field.type, "text")


def _column_kind(column: Any) -> str | None:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return None
    if issubclass(python_type, bool):
        return "checkbox"
    if issubclass(python_type, (int, float, Decimal)):
        return "number"
    if issubclass(python_type, dt.date):
        return "date"
    if issubclass(python_type, (str, uuid.UUID)):
        return "text"
    return None


@functools.cache
def built_in_kinds(model: Any) -> dict[str, str]:
    """The built-in fields a formula may read on ``model``: column attribute -> formula type."""
    kinds = {}
    for attr in inspect(model).column_attrs:
        if attr.key == "custom" or len(attr.columns) != 1:
            continue
        kind = _column_kind(attr.columns[0])
        if kind is not None:
            kinds[attr.key] = kind
    return kinds


def reference_kinds(record_type: str, fields: Iterable[Field]) -> dict[str, str]:
    """Every name a formula on ``record_type`` may use, with its type."""
    names = dict(built_in_kinds(records.get(record_type).model))
    for field in fields:
        names[f"custom.{field.api_name}"] = custom_kind(field)
    return names


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, Mapping):
        value = value.get("amount")
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            return None
    return None


def read(kind: str, value: Any) -> Any:
    """A stored or column value as the formula type ``kind`` holds it (None: blank)."""
    if value is None or value == "" or value == []:
        return None
    if kind == "number":
        return _decimal(value)
    if kind == "date":
        return _date(value)
    if kind == "checkbox":
        return bool(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def record_values(record: Any, record_type: str, fields: Iterable[Field]) -> dict[str, Any]:
    """The record's values by formula name (built-in bare, custom as ``custom.<api_name>``)."""
    values = {
        name: read(kind, getattr(record, name, None))
        for name, kind in built_in_kinds(records.get(record_type).model).items()
    }
    custom = record.custom or {}
    for field in fields:
        values[f"custom.{field.api_name}"] = read(custom_kind(field), custom.get(field.api_name))
    return values


@functools.lru_cache(maxsize=512)
def _tree(source: str) -> tuple:
    return formula.parse(source)


def ordered_formulas(fields: Iterable[Field]) -> list[Field]:
    """The formula fields in an order where each comes after the formulas it reads."""
    by_name = {f"custom.{f.api_name}": f for f in fields if f.type == "formula" and f.config}
    done: dict[str, Field] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in done or name in trail:
            return
        for ref in formula.references(_tree(by_name[name].config["expression"])):
            if ref in by_name:
                visit(ref, (*trail, name))
        done[name] = by_name[name]

    for name in by_name:
        visit(name, ())
    return list(done.values())


def compute(record: Any, record_type: str, fields: list[Field]) -> dict[str, Any] | None:
    """The record's ``custom`` with fresh formula values, or None when nothing changed."""
    formulas = ordered_formulas(fields)
    if not formulas:
        return None
    values = record_values(record, record_type, fields)
    custom = dict(record.custom or {})
    for field in formulas:
        config = field.config
        try:
            result = formula.evaluate(_tree(config["expression"]), values)
        except (formula.FormulaError, TypeError, ArithmeticError, ValueError):
            # Definitions are checked when saved; one broken by a later change computes blank
            # rather than refusing every write of the record.
            result = None
        value = formula.stored(config["result_type"], result, config.get("currency"))
        values[f"custom.{field.api_name}"] = read(custom_kind(field), value)
        if value is None:
            custom.pop(field.api_name, None)
        else:
            custom[field.api_name] = value
    return custom if custom != (record.custom or {}) else None


def refresh(session: Session, objects: Iterable[Any]) -> None:
    """Recompute the formula values of these records (any registered type, others ignored)."""
    from rapport.tenants.fields.queries import all_fields

    types = {kind.model: kind.name for kind in records.all_types()}
    targets = [obj for obj in objects if type(obj) in types]
    if not targets:
        return
    every = all_fields(session)
    for obj in targets:
        record_type = types[type(obj)]
        fields = [f for f in every if f.record_type == record_type]
        if not any(f.type == "formula" for f in fields):
            continue
        custom = compute(obj, record_type, fields)
        if custom is not None:
            obj.custom = custom


# -- formulas that read the date -------------------------------------------------------------------
def _calls_today(tree: tuple) -> bool:
    if tree[0] == "call" and tree[2] == "today":
        return True
    for part in tree[2:]:
        if isinstance(part, tuple) and _calls_today(part):
            return True
        if isinstance(part, list) and any(_calls_today(arg) for arg in part):
            return True
    return False


def dated_formulas(fields: Iterable[Field]) -> list[Field]:
    """The formula fields whose value changes with the date: they call today(), or read a
    formula that does."""
    ordered = ordered_formulas(fields)  # readers after what they read: one pass suffices
    dated: set[str] = set()
    for field in ordered:
        tree = _tree(field.config["expression"])
        if _calls_today(tree) or formula.references(tree) & dated:
            dated.add(f"custom.{field.api_name}")
    return [f for f in ordered if f"custom.{f.api_name}" in dated]


def refresh_dated(session: Session, batch: int = 500) -> int:
    """Recompute the stored formula values that depend on today's date, on every record of the
    session's tenant; return how many records changed.

    Written with a plain UPDATE that keeps ``updated_at``: the date moving on is not an edit of
    the record. Roll-ups that add up such values are recomputed after.
    """
    from rapport.tenants.fields import rollup
    from rapport.tenants.fields.queries import all_fields

    every = all_fields(session)
    changed = 0
    moved: set[tuple[str, str]] = set()  # (record type, api name) of refreshed formulas
    for kind in records.all_types():
        fields = [f for f in every if f.record_type == kind.name and not f.archived]
        dated = dated_formulas(fields)
        if not dated:
            continue
        moved |= {(kind.name, f"custom.{f.api_name}") for f in dated}
        model = kind.model
        last = None
        while True:
            stmt = select(model).order_by(model.id).limit(batch)
            if last is not None:
                stmt = stmt.where(model.id > last)
            rows = session.scalars(stmt).all()
            if not rows:
                break
            for row in rows:
                custom = compute(row, kind.name, fields)
                if custom is None:
                    continue
                session.execute(
                    update(model)
                    .where(model.id == row.id)
                    .values(custom=custom, updated_at=model.updated_at)
                    .execution_options(synchronize_session=False)
                )
                changed += 1
            last = rows[-1].id
            session.expire_all()  # read the next batch fresh; memory stays one batch
    for field in every:
        config = field.config or {}
        reads = {(config.get("related"), config.get(k)) for k in ("field", "filter_field")}
        if field.type == "rollup" and reads & moved:
            rollup.recompute_all(session, field)
    return changed

"""The settings of computed fields (formula, roll-up) and record lookups: checked when defined,
applied to records.

Definitions arrive flat (``formula``, ``result_type``, ``currency``, ``rollup_related``,
``rollup_link``, ``rollup_aggregate``, ``rollup_field``, ``rollup_filter_field``,
``rollup_filter_value``; a lookup's ``target``) from the admin form and the service callers
alike; they are stored as one ``config`` object on the definition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.platform.errors import ValidationFailed
from rapport.tenants import records
from rapport.tenants.deals.schemas import currency_codes
from rapport.tenants.fields import computed, formula, lookup, rollup
from rapport.tenants.fields.queries import Field, all_fields

COMPUTED = ("formula", "rollup")
FORMULA_KEYS = ("formula", "result_type", "currency")
ROLLUP_KEYS = (
    "rollup_related", "rollup_link", "rollup_aggregate", "rollup_field", "rollup_filter_field",
    "rollup_filter_value",
)  # fmt: skip
LOOKUP_KEYS = ("target",)
INPUT_KEYS = FORMULA_KEYS + ROLLUP_KEYS + LOOKUP_KEYS
#: Types whose definition carries a ``config``.
CONFIGURED = (*COMPUTED, "lookup")


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def build(
    session: Session,
    record_type: str,
    api_name: str,
    kind: str,
    data: Mapping[str, Any],
    *,
    current: Field | None = None,
) -> dict[str, Any] | None:
    """The ``config`` of a field from its input; ValidationFailed naming the form fields.

    ``current`` is the saved definition when an existing field changes.
    """
    if kind == "lookup":
        return lookup.build_config(session, data, current)
    if kind not in COMPUTED:
        return None
    others = [
        f for f in all_fields(session)
        if not (f.record_type == record_type and f.api_name == api_name)
    ]  # fmt: skip
    if kind == "formula":
        return _formula(record_type, api_name, data, others)
    return _rollup(record_type, data, others)


def _formula(
    record_type: str, api_name: str, data: Mapping[str, Any], others: list[Field]
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    expression = _text(data, "formula")
    result_type = _text(data, "result_type") or "number"
    currency = _text(data, "currency").upper() or None
    if result_type not in formula.RESULT_TYPES:
        errors["result_type"] = ["Choose number, currency, text, date or checkbox."]
    elif result_type == "currency" and currency not in currency_codes():
        errors["currency"] = ["Use a three-letter ISO 4217 currency code, such as EUR."]
    if not expression:
        errors["formula"] = ["Enter a formula, such as amount * 0.2."]
    if errors:
        raise ValidationFailed(errors)
    own = [f for f in others if f.record_type == record_type]
    names = computed.reference_kinds(record_type, own)
    try:
        tree = formula.compile_formula(expression, names, result_type)
    except formula.FormulaError as exc:
        raise ValidationFailed({"formula": [str(exc)]}) from None
    _check_cycle(api_name, tree, own)
    _check_readers(record_type, api_name, result_type, own)
    return {
        "expression": expression,
        "result_type": result_type,
        "currency": currency if result_type == "currency" else None,
    }


def _check_cycle(api_name: str, tree: tuple, own: list[Field]) -> None:
    """Refuse a formula that reads itself, directly or through other formulas."""
    formulas = {f"custom.{f.api_name}": f for f in own if f.type == "formula" and f.config}
    me = f"custom.{api_name}"
    seen: set[str] = set()
    todo = list(formula.references(tree))
    while todo:
        name = todo.pop()
        if name == me:
            raise ValidationFailed(
                {"formula": ["This formula would read its own value (a cycle)."]}
            )
        if name in seen or name not in formulas:
            continue
        seen.add(name)
        todo += formula.references(formula.parse(formulas[name].config["expression"]))


def _check_readers(record_type: str, api_name: str, result_type: str, own: list[Field]) -> None:
    """Refuse a result type that breaks the formulas reading this one."""
    names = computed.reference_kinds(record_type, own)
    names[f"custom.{api_name}"] = formula.RESULT_KIND[result_type]
    for other in own:
        if other.type != "formula" or not other.config:
            continue
        source = other.config["expression"]
        if f"custom.{api_name}" not in formula.references(formula.parse(source)):
            continue
        try:
            formula.compile_formula(source, names, other.config["result_type"])
        except formula.FormulaError as exc:
            raise ValidationFailed(
                {"result_type": [f"“{other.label}” reads this formula and would break: {exc}"]}
            ) from None


def _rollup(record_type: str, data: Mapping[str, Any], others: list[Field]) -> dict[str, Any]:
    related = _text(data, "rollup_related")
    link = _text(data, "rollup_link")
    if ":" in related:  # the form sends "deals:company_id"
        related, link = related.split(":", 1)
    if related and not link and records.exists(related):
        links = rollup.link_columns(related, record_type)
        link = links[0] if len(links) == 1 else ""
    config = {
        "related": related,
        "link": link,
        "aggregate": _text(data, "rollup_aggregate") or "count",
        "field": _text(data, "rollup_field") or None,
        "filter_field": _text(data, "rollup_filter_field") or None,
        "filter_value": _text(data, "rollup_filter_value") or None,
    }
    if config["aggregate"] == "count":
        config["field"] = None
    errors = rollup.check_config(record_type, config, others)
    if errors:
        raise ValidationFailed(errors)
    return config


def form_values(config: Mapping[str, Any] | None, kind: str) -> dict[str, Any]:
    """A stored config as the flat form fields (for the edit form)."""
    config = config or {}
    if kind == "formula":
        return {
            "formula": config.get("expression", ""),
            "result_type": config.get("result_type", "number"),
            "currency": config.get("currency") or "",
        }
    if kind == "rollup":
        related = config.get("related")
        return {
            "rollup_related": f"{related}:{config.get('link')}" if related else "",
            "rollup_aggregate": config.get("aggregate", "count"),
            "rollup_field": config.get("field") or "",
            "rollup_filter_field": config.get("filter_field") or "",
            "rollup_filter_value": config.get("filter_value") or "",
        }
    if kind == "lookup":
        return {"target": config.get("target") or ""}
    return {}


def dependents(session: Session, row: Any) -> list[str]:
    """Labels of the computed fields that read this field (it cannot go while they exist)."""
    name = f"custom.{row.api_name}"
    found = []
    for f in all_fields(session):
        if f.id == row.id or not f.config:
            continue
        reads_formula = f.type == "formula" and f.record_type == row.record_type
        reads_rollup = f.type == "rollup" and f.config.get("related") == row.record_type
        if (
            reads_formula and name in formula.references(formula.parse(f.config["expression"]))
        ) or (reads_rollup and name in (f.config.get("field"), f.config.get("filter_field"))):
            found.append(f.label)
    return found


def recompute(session: Session, field: Field) -> int:
    """Bring one computed field up to date on every record of its type; return how many changed."""
    if field.type == "rollup":
        return rollup.recompute_all(session, field)
    model = records.get(field.record_type).model
    fields = [f for f in all_fields(session) if f.record_type == field.record_type]
    if not any(f.id == field.id for f in fields):
        fields.append(field)
    changed = 0
    for record in session.scalars(select(model)):
        custom = computed.compute(record, field.record_type, fields)
        if custom is not None:
            record.custom = custom
            changed += 1
    session.flush()
    return changed


def recompute_tenant(session: Session) -> dict[str, int]:
    """Recompute every roll-up, then every formula, of the session's tenant."""
    counts: dict[str, int] = {}
    every = all_fields(session)
    for field in (f for f in every if f.type == "rollup" and f.config):
        counts[f"{field.record_type}.{field.api_name}"] = rollup.recompute_all(session, field)
    for kind in records.all_types():
        formulas = [f for f in every if f.record_type == kind.name and f.type == "formula"]
        if formulas:
            counts[f"{kind.name} formulas"] = recompute(session, dataclasses.replace(formulas[0]))
    return counts

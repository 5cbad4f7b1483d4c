"""Custom field settings: list per record type, create, edit, archive, delete, reorder, change a
type through a preview, and a live preview of the record form while a definition is edited."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from marshmallow import ValidationError
from werkzeug.routing import BuildError

from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.identity.members import MANAGERS
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import records
from rapport.tenants.fields import computed, config, conversion, formula, lookup, rollup, services
from rapport.tenants.fields.queries import (
    Field,
    _freeze,
    all_fields,
    fields_for,
    get_definition,
    sections,
)
from rapport.tenants.fields.schemas import parse_options
from rapport.tenants.fields.validation import TYPE_LABELS, TYPES, display
from rapport.tenants.modules.services import record_types
from rapport.tenants.roles import access
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("fields", __name__, "/settings/fields")
FORM_KEYS = (
    "record_type", "api_name", "label", "help_text", "type", "required", "unique", "filterable",
    "default", "min_value", "max_value", "min_length", "max_length", "pattern", "options",
    "section",
)  # fmt: skip
RESULT_LABELS = {
    "number": "Number", "currency": "Currency amount", "text": "Text", "date": "Date",
    "checkbox": "Checkbox",
}  # fmt: skip


@bp.before_request
def _admins_only() -> None:
    require_role(*MANAGERS)


def _record_type() -> str:
    record_type = request.args.get("record_type") or request.form.get("record_type") or "companies"
    if not records.exists(record_type):
        abort(404)
    return record_type


def _form_data() -> dict[str, Any]:
    data: dict[str, Any] = {key: request.form.get(key, "") for key in FORM_KEYS}
    if data["type"] in config.CONFIGURED:
        keys = {
            "formula": config.FORMULA_KEYS,
            "rollup": config.ROLLUP_KEYS,
            "lookup": config.LOOKUP_KEYS,
        }[data["type"]]
        data.update({key: request.form.get(key, "") for key in keys})
    for key in ("required", "unique", "filterable"):
        data[key] = bool(request.form.get(key))
    for key in ("min_value", "max_value", "min_length", "max_length", "default"):
        data[key] = data[key].strip() or None
    return data


def _options_text(options: list[dict[str, Any]]) -> str:
    lines = []
    for o in options or ():
        parts = [o["value"], o.get("label") or "", o.get("colour") or ""]
        if o.get("retired"):
            parts.append("retired")
        lines.append(" | ".join(parts).rstrip(" |"))
    return "\n".join(lines)


def _computed_choices(record_type: str) -> dict[str, Any]:
    """What the formula and roll-up settings offer for this record type."""
    session = tenant_db()
    every = all_fields(session)
    own = [f for f in every if f.record_type == record_type]
    relations = rollup.relations(record_type)
    labels = records.labels()
    return {
        # A lookup may point at the record types of the modules that are on.
        "lookup_targets": [(name, labels[name]) for name in record_types(session)],
        "result_types": list(RESULT_LABELS.items()),
        "references": sorted(computed.reference_kinds(record_type, own).items()),
        "functions": sorted((*formula.FUNCTIONS, *formula.SPECIAL)),
        "relations": [(f"{r}:{link}", f"{labels[r]} (by {link})") for r, link in relations],
        "aggregates": list(rollup.AGGREGATE_LABELS.items()),
        "rollup_fields": {
            r: rollup.numeric_fields(r, every) for r in dict.fromkeys(r for r, _ in relations)
        },
        "filter_fields": {
            r: sorted(computed.reference_kinds(r, [f for f in every if f.record_type == r]))
            for r in dict.fromkeys(r for r, _ in relations)
        },
    }


def _form(status: int = 200, **context: Any):  # type: ignore[no-untyped-def]
    context.setdefault("errors", {})
    types = [(t, TYPE_LABELS[t]) for t in TYPES]
    record_type = context["form"].get("record_type") or "companies"
    field = context.get("field")
    context.setdefault(
        "preview", _preview_sections(record_type, context["form"], field.id if field else None)
    )
    return render_template(
        "fields/form.html",
        types=types,
        record_labels=records.labels(),
        conversions=conversion.CONVERSIONS.get(field.type, ()) if field else (),
        type_labels=TYPE_LABELS,
        **_computed_choices(record_type),
        **context,
    ), status


# -- the live preview of the record form ----------------------------------------------------------
def _draft(record_type: str, form: dict[str, Any], field_id: uuid.UUID | None) -> Field | None:
    """An unsaved definition from the form, good enough to draw (never validated or stored)."""
    label = str(form.get("label") or "").strip()
    kind = form.get("type") if form.get("type") in TYPES else "text"
    if not label:
        return None
    try:
        options = tuple(parse_options(form.get("options")))
    except ValidationError:
        options = ()
    cfg = None
    if kind == "formula":
        cfg = {"expression": form.get("formula") or "", "result_type": form.get("result_type")
               or "number", "currency": form.get("currency")}  # fmt: skip
    elif kind == "lookup":
        cfg = {"target": form.get("target") or ""}
    return Field(
        id=field_id or uuid.uuid4(), record_type=record_type,
        api_name=str(form.get("api_name") or "new_field"), label=label[:100],
        help_text=str(form.get("help_text") or "").strip()[:300] or None, type=kind,
        required=bool(form.get("required")) and kind not in config.COMPUTED, unique=False,
        filterable=False, default=None, min_value=None, max_value=None, min_length=None,
        max_length=None, pattern=None, options=options,
        section=str(form.get("section") or "").strip()[:100] or None, position=10**6,
        archived_at=None, config=cfg,
    )  # fmt: skip


def _preview_sections(
    record_type: str, form: dict[str, Any] | None, field_id: uuid.UUID | None
) -> list[tuple[str | None, list[Field]]]:
    """The record type's form sections, with the draft in place of (or after) the saved field."""
    current = fields_for(tenant_db(), record_type)
    draft = _draft(record_type, form or {}, field_id) if form is not None else None
    if draft is None:
        return sections(current)
    if any(f.id == draft.id for f in current):
        merged = [
            dataclasses.replace(draft, position=f.position, api_name=f.api_name)
            if f.id == draft.id else f
            for f in current
        ]  # fmt: skip
    else:
        merged = [*current, draft]
    return sections(merged)


@bp.post("/preview")
def preview():  # type: ignore[no-untyped-def]
    """The record form as it would look with the posted draft (a partial for fields.js)."""
    record_type = _record_type()
    raw = request.form.get("field_id") or ""
    try:
        field_id = uuid.UUID(raw) if raw else None
    except ValueError:
        abort(400)
    return render_template(
        "fields/_preview.html",
        record_type=record_type,
        record_labels=records.labels(),
        preview=_preview_sections(record_type, _form_data(), field_id),
    )


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    record_type = _record_type()
    return render_template(
        "fields/index.html",
        record_type=record_type,
        record_labels=records.labels(),
        fields=fields_for(tenant_db(), record_type, archived=True),
        type_labels=TYPE_LABELS,
        preview=_preview_sections(record_type, None, None),
    )


@bp.get("/new")
def new():  # type: ignore[no-untyped-def]
    return _form(form={"record_type": _record_type(), "type": "text"}, field=None)


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form = _form_data()
    if request.form.get("preview"):  # the no-JS "Preview" button: show, save nothing
        return _form(form=form, field=None)
    try:
        row = services.create_field(tenant_db(), form)
    except ValidationFailed as exc:
        return _form(422, form=form, field=None, errors=exc.errors)
    flash(f"Field “{row.label}” created.", "success")
    return redirect(url_for(".index", record_type=row.record_type), 303)


def _get(field_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        return get_definition(tenant_db(), field_id)
    except NotFound:
        abort(404)


@bp.get("/<uuid:field_id>/edit")
def edit(field_id: uuid.UUID):  # type: ignore[no-untyped-def]
    row = _get(field_id)
    form = {key: getattr(row, key) for key in FORM_KEYS}
    form["options"] = _options_text(row.options)
    form.update(config.form_values(row.config, row.type))
    return _form(form=form, field=row)


@bp.post("/<uuid:field_id>/edit")
def update(field_id: uuid.UUID):  # type: ignore[no-untyped-def]
    row = _get(field_id)
    form = _form_data()
    if request.form.get("preview"):
        form.update(record_type=row.record_type, api_name=row.api_name)
        return _form(form=form, field=row)
    try:
        services.update_field(tenant_db(), row.id, form)
    except ValidationFailed as exc:
        form.update(record_type=row.record_type, api_name=row.api_name)
        return _form(422, form=form, field=row, errors=exc.errors)
    flash("Changes saved.", "success")
    return redirect(url_for(".index", record_type=row.record_type), 303)


# -- type change: preview every value, then convert -----------------------------------------------
@bp.get("/<uuid:field_id>/type")
def type_preview(field_id: uuid.UUID):  # type: ignore[no-untyped-def]
    row = _get(field_id)
    new_type = request.args.get("new_type") or ""
    result, errors = None, {}
    if new_type:
        try:
            result = conversion.preview(tenant_db(), row.id, new_type)
        except ValidationFailed as exc:
            errors = exc.errors
    return _type_page(row, new_type, result, errors, 422 if errors else 200)


def _type_page(row, new_type, result, errors, status=200):  # type: ignore[no-untyped-def]
    return render_template(
        "fields/type.html",
        field=row,
        new_type=new_type,
        result=result,
        errors=errors,
        choices=[(t, TYPE_LABELS[t]) for t in conversion.CONVERSIONS.get(row.type, ())],
        type_labels=TYPE_LABELS,
        frozen=_freeze(row),
        display=display,
    ), status


@bp.post("/<uuid:field_id>/type")
def change_type(field_id: uuid.UUID):  # type: ignore[no-untyped-def]
    row = _get(field_id)
    new_type = request.form.get("new_type", "")
    if request.form.get("confirm") != "1":
        return redirect(url_for(".type_preview", field_id=row.id, new_type=new_type), 303)
    label, old = row.label, TYPE_LABELS.get(row.type, row.type)
    try:
        result = conversion.change_type(tenant_db(), row.id, new_type)
    except ValidationFailed as exc:
        return _type_page(row, new_type, None, exc.errors, 422)
    converted = len(result.rows) - result.failures
    message = (
        f"“{label}” changed from {old} to {TYPE_LABELS[new_type]}; {converted} value(s) converted"
    )
    if result.failures:
        message += f", {result.failures} cleared"
    flash(message + ".", "success")
    return redirect(url_for(".edit", field_id=row.id), 303)


@bp.post("/<uuid:field_id>/archive")
def archive(field_id: uuid.UUID):  # type: ignore[no-untyped-def]
    row = _get(field_id)
    restore = request.form.get("restore") == "1"
    services.archive_field(tenant_db(), row.id, archived=not restore)
    flash(f"Field “{row.label}” {'restored' if restore else 'archived'}.", "success")
    return redirect(url_for(".index", record_type=row.record_type), 303)


@bp.get("/<uuid:field_id>/delete")
def confirm_delete(field_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return render_template("fields/delete.html", field=_get(field_id), errors={})


@bp.post("/<uuid:field_id>/delete")
def delete(field_id: uuid.UUID):  # type: ignore[no-untyped-def]
    row = _get(field_id)
    record_type, label = row.record_type, row.label
    try:
        cleared = services.delete_field(tenant_db(), row.id, request.form.get("confirmation", ""))
    except ValidationFailed as exc:
        return render_template("fields/delete.html", field=row, errors=exc.errors), 422
    flash(f"Field “{label}” deleted; values removed from {cleared} record(s).", "success")
    return redirect(url_for(".index", record_type=record_type), 303)


@bp.post("/reorder")
def reorder():  # type: ignore[no-untyped-def]
    record_type = _record_type()
    services.reorder_fields(tenant_db(), record_type, request.form.getlist("field_id"))
    flash("Order saved.", "success")
    return redirect(url_for(".index", record_type=record_type), 303)


# -- custom fields on the record forms and pages --------------------------------------------------
def custom_from_form(record_type: str) -> dict[str, Any]:
    """The raw custom values a record form sent (inputs named ``custom.<api_name>``)."""
    values: dict[str, Any] = {}
    locked = access.read_only(tenant_db(), record_type)
    for f in fields_for(tenant_db(), record_type):
        if f.computed or f.api_name in locked:  # calculated or not the role's: never sent back
            continue
        key = f"custom.{f.api_name}"
        if f.type == "multi_select":
            values[f.api_name] = request.form.getlist(key)
        elif f.type == "currency":
            amount = request.form.get(key, "")
            currency = request.form.get(f"{key}.currency", "")
            values[f.api_name] = {"amount": amount, "currency": currency} if amount else None
        elif f.type == "lookup":
            values[f.api_name] = _chosen_record(f, request.form.get(key, ""), key)
        else:
            values[f.api_name] = request.form.get(key, "")
    return values


def _custom_sections(record_type: str) -> list[tuple[str | None, list[Any]]]:
    """The record type's custom fields by section, less those the member's role may not see."""
    session = tenant_db()
    hidden = access.hidden(session, record_type)
    return sections([f for f in fields_for(session, record_type) if f.api_name not in hidden])


def _chosen_record(field: Field, text: str, key: str) -> str:
    """The id a lookup input sent: a select sends it; a text input sends a name to find.

    The text input shows the current record's name with its id alongside (``<key>.id``): an
    unchanged name keeps that id, even if another record has the same name. A name that finds no
    record, or several, goes on as typed, and the validator refuses it.
    """
    text = text.strip()
    if not text or lookup.as_id(text) is not None:
        return text
    session, target = tenant_db(), lookup.target_of(field)
    current = request.form.get(f"{key}.id", "").strip()
    if (
        lookup.as_id(current) is not None
        and lookup.labels(session, target, [current])[current] == text
    ):
        return current
    return lookup.resolve(session, target, text) or text


def record_url(record_type: str, record_id: Any) -> str | None:
    """The page of a record (``<type>.detail``), if this deployment has one."""
    if not records.exists(record_type):
        return None
    try:
        arg = f"{records.get(record_type).singular}_id"
        return url_for(f"{record_type}.detail", **{arg: record_id})
    except BuildError:
        return None


def _display(field: Field, value: Any) -> str:
    """A custom value on a record's page; a lookup links to the record by its name."""
    if field.type != "lookup" or value is None:
        return display(field, value)
    target = lookup.target_of(field)
    label = lookup.labels(tenant_db(), target, [value])[str(value)]
    url = record_url(target, value) if label not in (lookup.DELETED, lookup.NOT_VISIBLE) else None
    return Markup('<a href="{}">{}</a>').format(url, label) if url else label


def _lookup_input(field: Field, value: Any) -> dict[str, Any]:
    """What a record form draws for a lookup: a select of the target's records when they are
    few, else a text input (with suggestions) that takes a record's name.

    ``value`` is the record's id, or a name that matched nothing (sent back with its error).
    """
    session, target = tenant_db(), lookup.target_of(field)
    options = lookup.choices(session, target)
    many = len(options) > lookup.MAX_CHOICES
    options = options[: lookup.MAX_CHOICES]
    text = "" if value is None else str(value)
    record_id = text if lookup.as_id(text) is not None else ""
    label = lookup.labels(session, target, [record_id])[record_id] if record_id else text
    return {
        "select": not many,
        "choices": options,
        "value": record_id,
        "text": label,
        # A value the select does not offer (deleted since, or not the member's to see) stays.
        "kept": bool(record_id) and record_id not in {i for i, _title in options},
        "singular": lookup.singular(field),
    }


def _lookup_choices(field: Field) -> list[tuple[str, str]]:
    """(id, name) suggestions of a lookup's target records, for the list filters."""
    return lookup.choices(tenant_db(), lookup.target_of(field))[: lookup.MAX_CHOICES]


@bp.app_context_processor
def _custom_helpers() -> dict[str, Any]:
    return {
        "custom_sections": _custom_sections,
        "custom_display": _display,
        "lookup_input": _lookup_input,
        "lookup_choices": _lookup_choices,
    }

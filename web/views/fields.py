"""Custom field settings: list per record type, create, edit, archive, delete, reorder."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.identity.members import MANAGERS
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import records
from rapport.tenants.fields import services
from rapport.tenants.fields.queries import (
    fields_for,
    get_definition,
    sections,
)
from rapport.tenants.fields.validation import TYPE_LABELS, TYPES, display
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("fields", __name__, "/settings/fields")
FORM_KEYS = (
    "record_type", "api_name", "label", "help_text", "type", "required", "unique", "filterable",
    "default", "min_value", "max_value", "min_length", "max_length", "pattern", "options",
    "section",
)  # fmt: skip


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


def _form(status: int = 200, **context: Any):  # type: ignore[no-untyped-def]
    context.setdefault("errors", {})
    types = [(t, TYPE_LABELS[t]) for t in TYPES]
    return render_template(
        "fields/form.html", types=types, record_labels=records.labels(), **context
    ), status


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    record_type = _record_type()
    return render_template(
        "fields/index.html",
        record_type=record_type,
        record_labels=records.labels(),
        fields=fields_for(tenant_db(), record_type, archived=True),
        type_labels=TYPE_LABELS,
    )


@bp.get("/new")
def new():  # type: ignore[no-untyped-def]
    return _form(form={"record_type": _record_type(), "type": "text"}, field=None)


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form = _form_data()
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
    return _form(form=form, field=row)


@bp.post("/<uuid:field_id>/edit")
def update(field_id: uuid.UUID):  # type: ignore[no-untyped-def]
    row = _get(field_id)
    form = _form_data()
    try:
        services.update_field(tenant_db(), row.id, form)
    except ValidationFailed as exc:
        form.update(record_type=row.record_type, api_name=row.api_name)
        return _form(422, form=form, field=row, errors=exc.errors)
    flash("Changes saved.", "success")
    return redirect(url_for(".index", record_type=row.record_type), 303)


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
    for f in fields_for(tenant_db(), record_type):
        key = f"custom.{f.api_name}"
        if f.type == "multi_select":
            values[f.api_name] = request.form.getlist(key)
        elif f.type == "currency":
            amount = request.form.get(key, "")
            currency = request.form.get(f"{key}.currency", "")
            values[f.api_name] = {"amount": amount, "currency": currency} if amount else None
        else:
            values[f.api_name] = request.form.get(key, "")
    return values


def _custom_sections(record_type: str) -> list[tuple[str | None, list[Any]]]:
    return sections(fields_for(tenant_db(), record_type))


@bp.app_context_processor
def _custom_helpers() -> dict[str, Any]:
    return {"custom_sections": _custom_sections, "custom_display": display}

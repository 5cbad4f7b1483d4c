"""Importing records from CSV or Excel: upload, map the columns, preview, run, see the results.

Any member who may create records of a type may import them (it is a data-entry tool, not an
admin one); each sees their own imports, administrators everybody's. The module ``imports``
switched off makes every page here answer 404 (the blueprint is named after it).
"""

from __future__ import annotations

import contextlib
import uuid

from flask import Response, abort, current_app, g, redirect, render_template, request, url_for

from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import records
from rapport.tenants.imports import readers, services
from rapport.tenants.imports.mapping import check, targets
from rapport.tenants.imports.models import DRAFT, STATUS_LABELS, ImportBatch
from rapport.tenants.modules import services as modules
from rapport.web.auth import current_user
from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("imports", __name__, "/imports")


@bp.app_template_global()
def import_url(record_type: str) -> str | None:
    """Where a list page's "Import" button leads, or None when the member cannot import there
    (the imports module is off, the record type's module is off, or no create right)."""
    session = tenant_db()
    if not modules.is_enabled(session, "imports"):
        return None
    if record_type not in {k.name for k in services.importable_types(session)}:
        return None
    return url_for("imports.index", record_type=record_type)


def _upload_page(status: int = 200, errors: dict | None = None, chosen: str = ""):  # type: ignore[no-untyped-def,type-arg]
    session = tenant_db()
    kinds = services.importable_types(session)
    if not kinds:
        abort(403, "Your role may not create records, so it cannot import them either.")
    return render_template(
        "imports/index.html",
        kinds=kinds,
        chosen=chosen or request.args.get("record_type", ""),
        errors=errors or {},
        batches=services.list_batches(session, g.membership.user_id),
        labels=records.labels(),
        statuses=STATUS_LABELS,
        max_rows=readers.MAX_ROWS,
        max_mb=readers.MAX_BYTES // (1024 * 1024),
    ), status


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return _upload_page()


@bp.post("/")
def upload():  # type: ignore[no-untyped-def]
    record_type = request.form.get("record_type", "")
    sent = request.files.get("file")
    errors: dict[str, list[str]] = {}
    if record_type not in {k.name for k in services.importable_types(tenant_db())}:
        # A type it may not create is a 403; an unknown one, or one whose module is off, is
        # treated as if it were not there.
        with contextlib.suppress(NotFound):
            services.require_type(tenant_db(), record_type)
        errors["record_type"] = ["Choose what to import from the list."]
    if sent is None or not sent.filename:
        errors["file"] = ["Choose a CSV or Excel file."]
    if errors:
        return _upload_page(422, errors, record_type)
    user = current_user()
    assert user is not None and sent is not None
    try:
        batch = services.start(
            tenant_db(), record_type, sent.filename or "", sent.read(readers.MAX_BYTES + 1),
            user_id=user.id, user_label=user.email,
        )  # fmt: skip
    except ValidationFailed as exc:
        return _upload_page(422, exc.errors, record_type)
    return redirect(url_for(".mapping", batch_id=batch.id), 303)


def _batch(batch_id: uuid.UUID) -> ImportBatch:
    try:
        return services.get_batch(tenant_db(), batch_id, g.membership.user_id)
    except NotFound:
        abort(404)


def _mapping_page(  # type: ignore[no-untyped-def]
    batch: ImportBatch, status: int = 200, errors: dict | None = None,  # type: ignore[type-arg]
    warnings: list[str] | None = None,
):  # fmt: skip
    session = tenant_db()
    return render_template(
        "imports/mapping.html",
        batch=batch,
        kind=records.get(batch.record_type),
        columns=services.columns(batch),
        targets=targets(session, batch.record_type),
        errors=errors or {},
        warnings=warnings or [],
        preview=services.current_preview(batch),
        shown=services.SHOWN_ERRORS,
        labels=services.field_labels(session, batch.record_type),
    ), status


def _check(batch: ImportBatch) -> tuple[dict[str, list[str]], list[str]]:
    return check(batch.headings, batch.mapping, targets(tenant_db(), batch.record_type))


@bp.get("/<uuid:batch_id>/mapping")
def mapping(batch_id: uuid.UUID):  # type: ignore[no-untyped-def]
    batch = _batch(batch_id)
    if batch.status != DRAFT:
        return redirect(url_for(".show", batch_id=batch.id), 303)
    services.require_type(tenant_db(), batch.record_type)
    _errors, warnings = _check(batch)
    return _mapping_page(batch, warnings=warnings)


@bp.post("/<uuid:batch_id>/mapping")
def save_mapping(batch_id: uuid.UUID):  # type: ignore[no-untyped-def]
    session = tenant_db()
    batch = _batch(batch_id)
    if batch.status != DRAFT:
        return redirect(url_for(".show", batch_id=batch.id), 303)
    chosen = [request.form.get(f"column-{i}") or None for i in range(len(batch.headings))]
    try:
        services.set_mapping(session, batch, chosen)
    except ValidationFailed as exc:
        _errors, warnings = _check(batch)
        return _mapping_page(batch, 422, exc.errors, warnings)
    if request.form.get("action") == "run":
        services.confirm(session, batch)
        return redirect(url_for(".show", batch_id=batch.id), 303)
    services.request_preview(session, batch)
    return redirect(url_for(".mapping", batch_id=batch.id, _anchor="preview"), 303)


@bp.get("/<uuid:batch_id>")
def show(batch_id: uuid.UUID):  # type: ignore[no-untyped-def]
    batch = _batch(batch_id)
    if batch.status == DRAFT:
        return redirect(url_for(".mapping", batch_id=batch.id), 303)
    return render_template(
        "imports/show.html",
        batch=batch,
        kind=records.get(batch.record_type),
        statuses=STATUS_LABELS,
        labels=services.field_labels(tenant_db(), batch.record_type),
        shown=services.SHOWN_ERRORS,
        list_url=_list_url(batch.record_type),
        rows_kept_days=services.ROWS_KEPT.days,
    )


def _list_url(record_type: str) -> str | None:
    endpoint = f"{record_type}.index"  # each record type's pages are its blueprint
    return url_for(endpoint) if endpoint in current_app.view_functions else None


@bp.get("/<uuid:batch_id>/failed.csv")
def failed_rows(batch_id: uuid.UUID):  # type: ignore[no-untyped-def]
    batch = _batch(batch_id)
    if not batch.rows_kept:
        abort(410, "The file of this import is no longer kept.")
    body = services.failed_rows_csv(tenant_db(), batch)
    stem = batch.file_name.rsplit(".", 1)[0] or "import"
    # The BOM makes Excel read the file as UTF-8; the importer reads it back either way.
    return Response(
        "\ufeff" + body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{_safe(stem)}-failed-rows.csv"'},
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_ " else "_" for c in name)[:80] or "import"

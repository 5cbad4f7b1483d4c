"""Notes and attachments in the browser: add and delete them on any record, download files.

The forms come from a record's page (``notes/_composer.html``) or from the record's notes page
here, and return to the ``next`` address. Downloads are always served as attachments, with the
sniffed content type and ``nosniff``, so an uploaded file is never rendered by the browser on our
origin.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.activities.links import get_record, record_label, record_url
from rapport.tenants.activities.models import LINKABLE_TYPES
from rapport.tenants.notes import queries, services
from rapport.tenants.notes.storage import storage
from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("notes", __name__, "/notes")


def _safe_next(default: str) -> str:
    target = request.form.get("next", "")
    # Only paths inside this workspace: never an absolute or protocol-relative address.
    if target.startswith(f"/{g.workspace.slug}/") and not target.startswith("//"):
        return target
    return default


def _record(record_type: str, record_id: Any):  # type: ignore[no-untyped-def]
    if record_type not in LINKABLE_TYPES:
        abort(404)
    try:
        return get_record(tenant_db(), record_type, record_id)
    except NotFound:
        abort(404)


def _page(record_type: str, record_id: uuid.UUID, status: int = 200, **context: Any):  # type: ignore[no-untyped-def]
    session = tenant_db()
    record = _record(record_type, record_id)
    context.setdefault("errors", {})
    context.setdefault("form", {})
    return render_template(
        "notes/record.html",
        record=record,
        record_label=record_label(record),
        record_href=record_url(record_type, record_id),
        timeline_type=record_type,
        timeline_id=record_id,
        notes=queries.record_notes(session, record_type, record_id),
        attachments=queries.record_attachments(session, record_type, record_id),
        max_mb=services.MAX_ATTACHMENT_BYTES // (1024 * 1024),
        **context,
    ), status


@bp.get("/<record_type>/<uuid:record_id>")
def record(record_type: str, record_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """The notes and files of one record."""
    return _page(record_type, record_id)


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    record_type = request.form.get("record_type", "")
    record_id = request.form.get("record_id", "")
    try:
        key = uuid.UUID(record_id)
    except ValueError:
        abort(404)
    _record(record_type, key)
    form = {"body": request.form.get("body", "")}
    try:
        services.create_note(tenant_db(), record_type, key, form)
    except ValidationFailed as exc:
        return _page(record_type, key, 422, errors=exc.errors, form=form)
    flash("Note added.", "success")
    return redirect(_safe_next(url_for(".record", record_type=record_type, record_id=key)), 303)


@bp.post("/<uuid:note_id>/delete")
def delete(note_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        note = services.delete_note(tenant_db(), note_id)
    except NotFound:
        abort(404)
    flash("Note deleted.", "success")
    default = url_for(".record", record_type=note.record_type, record_id=note.record_id)
    return redirect(_safe_next(default), 303)


@bp.post("/attachments")
def upload():  # type: ignore[no-untyped-def]
    record_type = request.form.get("record_type", "")
    try:
        key = uuid.UUID(request.form.get("record_id", ""))
    except ValueError:
        abort(404)
    _record(record_type, key)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ValidationFailed({"file": ["Choose a file to attach."]})
        # Read one byte past the limit: enough to know it is too large, never the whole stream.
        data = upload.stream.read(services.MAX_ATTACHMENT_BYTES + 1)
        row = services.add_attachment(tenant_db(), record_type, key, upload.filename, data)
    except ValidationFailed as exc:
        return _page(record_type, key, 422, errors=exc.errors)
    flash(f"“{row.filename}” attached.", "success")
    return redirect(_safe_next(url_for(".record", record_type=record_type, record_id=key)), 303)


@bp.get("/attachments/<uuid:attachment_id>")
def download(attachment_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        row = services.get_attachment(tenant_db(), attachment_id)
    except NotFound:
        abort(404)
    try:
        handle = storage().open(g.workspace.id, row.storage_key)
    except FileNotFoundError:
        abort(404)
    return attachment_response(handle, row)


def attachment_response(handle: Any, row: Any) -> Response:
    """Serve stored bytes as a download: never rendered inline, never sniffed by the browser."""
    # Attachments are small (MAX_ATTACHMENT_BYTES): read them whole and close the file at once,
    # rather than leave a handle open for as long as the client takes to read the response.
    with handle:
        data = handle.read()
    response = Response(data, mimetype=row.content_type)
    response.headers.set("Content-Disposition", "attachment", filename=row.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/attachments/<uuid:attachment_id>/delete")
def delete_attachment(attachment_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        row = services.delete_attachment(tenant_db(), attachment_id)
    except NotFound:
        abort(404)
    flash(f"“{row.filename}” deleted.", "success")
    default = url_for(".record", record_type=row.record_type, record_id=row.record_id)
    return redirect(_safe_next(default), 303)

"""Notes and attachments on records over REST: list, add, read, delete; upload and download files.

Uploads are ``multipart/form-data`` (``record_type``, ``record_id``, ``file``); what a file is
comes from its bytes, never from the client. Downloads are served as attachments with
``nosniff``.
"""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from sqlalchemy import func, select

from rapport.api import errors
from rapport.api.auth import api_blueprint
from rapport.platform.errors import ValidationFailed
from rapport.platform.tenancy.scope import current_tenant, tenant_db
from rapport.tenants.activities.links import check_record
from rapport.tenants.activities.models import LINKABLE_TYPES
from rapport.tenants.notes import services
from rapport.tenants.notes.models import Attachment, Note
from rapport.tenants.notes.storage import storage

blp = api_blueprint(
    "api_notes",
    __name__,
    url_prefix="/api/v1/notes",
    description="Notes and attachments on records.",
)
MAX_LIST = 200


class RecordArgs(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    record_type = ma.fields.String(required=True, validate=ma.validate.OneOf(LINKABLE_TYPES))
    record_id = ma.fields.UUID(required=True)
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, MAX_LIST))


class NoteInputSchema(ma.Schema):
    record_type = ma.fields.String(required=True, validate=ma.validate.OneOf(LINKABLE_TYPES))
    record_id = ma.fields.UUID(required=True)
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=20_000))


class NoteRecordSchema(NoteInputSchema):
    id = ma.fields.UUID(dump_only=True)
    author_id = ma.fields.UUID(dump_only=True, allow_none=True)
    author_label = ma.fields.String(dump_only=True, allow_none=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)


class AttachmentRecordSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    record_type = ma.fields.String(dump_only=True)
    record_id = ma.fields.UUID(dump_only=True)
    filename = ma.fields.String(dump_only=True)
    content_type = ma.fields.String(
        dump_only=True, metadata={"description": "What the bytes are (sniffed on upload)."}
    )
    size = ma.fields.Integer(dump_only=True)
    sha256 = ma.fields.String(dump_only=True)
    author_label = ma.fields.String(dump_only=True, allow_none=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)


class NoteListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(NoteRecordSchema), required=True)
    total = ma.fields.Integer(required=True)


class AttachmentListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AttachmentRecordSchema), required=True)
    total = ma.fields.Integer(required=True)


_NOTE_BODY = {"required": True, "content": {"application/json": {"schema": NoteInputSchema}}}
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["record_type", "record_id", "file"],
                "properties": {
                    "record_type": {"type": "string", "enum": list(LINKABLE_TYPES)},
                    "record_id": {"type": "string", "format": "uuid"},
                    "file": {"type": "string", "format": "binary"},
                },
            }
        }
    },
}


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("NoteInput", schema=NoteInputSchema)
    spec.components.schema("Note", schema=NoteRecordSchema)
    spec.components.schema("NoteList", schema=NoteListSchema)
    spec.components.schema("Attachment", schema=AttachmentRecordSchema)
    spec.components.schema("AttachmentList", schema=AttachmentListSchema)


def _listing(model: type, args: dict[str, Any]) -> dict[str, Any]:
    session = tenant_db()
    check_record(session, args["record_type"], args["record_id"])
    where = (model.record_type == args["record_type"], model.record_id == args["record_id"])
    items = session.scalars(
        select(model).where(*where).order_by(model.created_at.desc(), model.id.desc())
        .limit(args["limit"])
    ).all()  # fmt: skip
    total = session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    return {"items": items, "total": total}


@blp.route("")
class Notes(MethodView):
    @blp.arguments(RecordArgs, location="query")
    @blp.response(200, NoteListSchema)
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List the notes on a record, newest first"""
        return _listing(Note, args)

    @blp.doc(requestBody=_NOTE_BODY)
    @blp.response(201, NoteRecordSchema)
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Add a note to a record"""
        data = errors.json_body()
        record_type = data.get("record_type")
        if record_type not in LINKABLE_TYPES:
            raise ValidationFailed({"record_type": ["Name a company, contact, deal or lead."]})
        body = {k: v for k, v in data.items() if k not in ("record_type", "record_id")}
        return services.create_note(tenant_db(), record_type, str(data.get("record_id")), body)


@blp.route("/<uuid:note_id>")
class NoteById(MethodView):
    @blp.response(200, NoteRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, note_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a note"""
        return services.get_note(tenant_db(), note_id)

    @blp.response(204)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def delete(self, note_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete a note"""
        services.delete_note(tenant_db(), note_id)


@blp.route("/attachments")
class Attachments(MethodView):
    @blp.arguments(RecordArgs, location="query")
    @blp.response(200, AttachmentListSchema)
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List the files attached to a record, newest first"""
        return _listing(Attachment, args)

    @blp.doc(requestBody=_UPLOAD_BODY)
    @blp.response(201, AttachmentRecordSchema)
    @blp.alt_response(413, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Attach a file to a record (multipart/form-data; checked by its bytes, size limited)"""
        record_type = request.form.get("record_type", "")
        if record_type not in LINKABLE_TYPES:
            raise ValidationFailed({"record_type": ["Name a company, contact, deal or lead."]})
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed({"file": ["Send the file as the multipart field “file”."]})
        data = upload.stream.read(services.MAX_ATTACHMENT_BYTES + 1)
        return services.add_attachment(
            tenant_db(), record_type, request.form.get("record_id", ""), upload.filename, data
        )


@blp.route("/attachments/<uuid:attachment_id>")
class AttachmentById(MethodView):
    @blp.response(200, AttachmentRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, attachment_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read an attachment's details"""
        return services.get_attachment(tenant_db(), attachment_id)

    @blp.response(204)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def delete(self, attachment_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete an attachment and its file"""
        services.delete_attachment(tenant_db(), attachment_id)


@blp.route("/attachments/<uuid:attachment_id>/content")
@blp.response(
    200,
    description="The file, as an attachment download.",
    content_type="application/octet-stream",
)
@blp.alt_response(404, response="DEFAULT_ERROR")
def download(attachment_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Download an attachment's bytes"""
    from rapport.web.views.notes import attachment_response

    row = services.get_attachment(tenant_db(), attachment_id)
    try:
        handle = storage().open(current_tenant().id, row.storage_key)
    except FileNotFoundError:
        errors.fail(404, "The file of this attachment is missing.")
    return attachment_response(handle, row)

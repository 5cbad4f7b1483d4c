"""Notes and attachments on any record: validate, change, audit, announce, flush; never commit.

Attachment bytes go to the storage (``storage.py``) under a key of our own; the row keeps the
sniffed content type, size and SHA-256. A deleted attachment's file is removed by an outbox job
after the commit, so a rolled-back delete keeps its file; a file whose upload never committed is
removed by a daily sweep (:func:`remove_orphan_files`). When a record is deleted, its notes
and attachments go with it (:func:`forget_deleted_record`, after the commit).
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
import uuid
from typing import Any

from marshmallow import fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.audit.context import current_actor
from rapport.platform.db import get_or_not_found
from rapport.platform.errors import NotFound, PermissionDenied, ValidationFailed
from rapport.platform.ids import new_id
from rapport.platform.jobs import outbox
from rapport.platform.jobs.registry import job
from rapport.platform.tenancy.models import TenantRef
from rapport.tenants import events, records
from rapport.tenants.activities.links import check_record, get_record
from rapport.tenants.companies.schemas import RecordSchema, load
from rapport.tenants.notes.models import Attachment, Note
from rapport.tenants.notes.sniff import Refused, sniff
from rapport.tenants.notes.storage import storage
from rapport.tenants.roles import access

events.declare("note.created", "A note was added to a record.")
events.declare("note.deleted", "A note was deleted.")

#: The largest attachment accepted (bytes).
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]+')


class NoteSchema(RecordSchema):
    body = fields.String(
        required=True,
        validate=validate.Length(max=20_000, error="Use at most {max} characters."),
        error_messages={"required": "Write the note first.", "null": "Write the note first."},
    )


def _author() -> dict[str, Any]:
    actor = current_actor()
    author_id = None
    if actor.type == "user" and actor.id:
        author_id = uuid.UUID(actor.id)
    return {"author_id": author_id, "author_label": (actor.label or actor.type)[:200]}


def note_snapshot(note: Note) -> dict[str, Any]:
    return {"record_type": note.record_type, "record_id": str(note.record_id), "body": note.body}


def _may_change(session: Session, record_type: str, record_id: uuid.UUID | str) -> uuid.UUID:
    """The record's id, once the acting role may change it (notes and files are part of it)."""
    record_id = check_record(session, record_type, record_id)
    access.require_may(session, get_record(session, record_type, record_id), "update")
    return record_id


def _parent_may_change(session: Session, record_type: str, record_id: uuid.UUID) -> None:
    """Deleting a note or file needs the right to change its record (a deleted record's leftovers
    need none; one the role cannot see is refused)."""
    try:
        record = get_record(session, record_type, record_id)
    except NotFound:
        with access.unrestricted(session):
            try:
                get_record(session, record_type, record_id)
            except NotFound:
                return
        raise PermissionDenied("Your role may not change that record.") from None
    access.require_may(session, record, "update")


def create_note(session: Session, record_type: str, record_id: uuid.UUID | str, data: Any) -> Note:
    """Add a note to a record; raise ValidationFailed naming the bad field."""
    record_id = _may_change(session, record_type, record_id)
    values = load(NoteSchema(), dict(data))
    note = Note(record_type=record_type, record_id=record_id, body=values["body"], **_author())
    session.add(note)
    session.flush()
    audit.record(session, "note.created", "note", note.id, audit.diff({}, note_snapshot(note)))
    events.emit(session, "note.created", record_type, record_id,
                {"note_id": str(note.id), **note_snapshot(note)})  # fmt: skip
    return note


def get_note(session: Session, note_id: uuid.UUID | str) -> Note:
    return get_or_not_found(session, Note, note_id, "note")


def delete_note(session: Session, note_id: uuid.UUID | str) -> Note:
    note = get_note(session, note_id)
    _parent_may_change(session, note.record_type, note.record_id)
    before = note_snapshot(note)
    session.delete(note)
    session.flush()
    audit.record(session, "note.deleted", "note", note.id, audit.diff(before, {}))
    events.emit(session, "note.deleted", note.record_type, note.record_id,
                {"note_id": str(note.id), **before})  # fmt: skip
    return note


def clean_filename(name: str | None) -> str:
    """A file name safe to store and to put in a header: no folders, no control characters."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) < 10 else name[:200]
    return name or "attachment"


def attachment_snapshot(row: Attachment) -> dict[str, Any]:
    names = ("record_type", "filename", "content_type", "size")
    return {"record_id": str(row.record_id), **{name: getattr(row, name) for name in names}}


def add_attachment(
    session: Session,
    record_type: str,
    record_id: uuid.UUID | str,
    filename: str | None,
    data: bytes,
    *,
    max_bytes: int = MAX_ATTACHMENT_BYTES,
) -> Attachment:
    """Store a file on a record; refuse empty, too large, executable or markup content."""
    record_id = _may_change(session, record_type, record_id)
    if len(data) > max_bytes:
        limit = f"{max_bytes / (1024 * 1024):g} MB"
        raise ValidationFailed({"file": [f"The file is larger than {limit}."]})
    try:
        content_type = sniff(data)
    except Refused as exc:
        raise ValidationFailed({"file": [str(exc)]}) from None
    tenant: TenantRef = session.info["tenant"]
    key = new_id().hex
    row = Attachment(
        record_type=record_type,
        record_id=record_id,
        filename=clean_filename(filename),
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
        **_author(),
    )
    session.add(row)
    session.flush()
    storage().put(tenant.id, key, data)
    audit.record(session, "attachment.created", "attachment", row.id,
                 audit.diff({}, attachment_snapshot(row)))  # fmt: skip
    return row


def get_attachment(session: Session, attachment_id: uuid.UUID | str) -> Attachment:
    return get_or_not_found(session, Attachment, attachment_id, "attachment")


def delete_attachment(session: Session, attachment_id: uuid.UUID | str) -> Attachment:
    row = get_attachment(session, attachment_id)
    _parent_may_change(session, row.record_type, row.record_id)
    before = attachment_snapshot(row)
    session.delete(row)
    session.flush()
    audit.record(session, "attachment.deleted", "attachment", row.id, audit.diff(before, {}))
    outbox.add(session, remove_attachment_file, {"storage_key": row.storage_key},
               event_key=f"attachment.deleted:{row.id}")  # fmt: skip
    return row


#: How old a stored file without an attachment row must be before the sweep removes it.
ORPHAN_AGE = 24 * 3600


@job("default", plane="control", retries=0)
def sweep_orphan_files(session: Session) -> list[str]:
    """The daily periodic job: look for orphan files in every active tenant's storage."""
    from rapport.platform.jobs.runtime import enqueue_for_each_tenant

    return enqueue_for_each_tenant(remove_orphan_files)


@job("default")
def remove_orphan_files(session: Session, tenant: TenantRef) -> int:
    """Remove the stored files no attachment names, a day after they were written: an upload whose
    transaction rolled back (or whose process died before the commit). Return how many."""
    store = storage()
    found = list(store.keys(tenant.id, before=time.time() - ORPHAN_AGE))
    removed = 0
    for start in range(0, len(found), 500):
        batch = found[start : start + 500]
        known = set(
            session.scalars(select(Attachment.storage_key).where(Attachment.storage_key.in_(batch)))
        )
        for key in batch:
            if key not in known:
                store.delete(tenant.id, key)
                removed += 1
    return removed


@job("default")
def remove_attachment_file(session: Session, tenant: TenantRef, storage_key: str, **_: Any) -> None:
    """Remove a deleted attachment's bytes (safe to run twice)."""
    storage().delete(tenant.id, storage_key)


@events.subscriber
def forget_deleted_record(session: Session, tenant: TenantRef, event: dict[str, Any]) -> None:
    """A deleted record's notes and attachments go with it (each audited, files removed)."""
    name = event.get("record_type")
    if not name or not records.exists(name):
        return
    if event.get("type") != f"{records.get(name).singular}.deleted":
        return
    record_id = uuid.UUID(str(event["record_id"]))
    for note in session.scalars(
        select(Note).where(Note.record_type == name, Note.record_id == record_id)
    ):
        delete_note(session, note.id)
    for row in session.scalars(
        select(Attachment).where(Attachment.record_type == name, Attachment.record_id == record_id)
    ):
        delete_attachment(session, row.id)

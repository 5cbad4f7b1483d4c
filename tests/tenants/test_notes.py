"""Notes and attachments: on any record, content checked by its bytes, size limits, storage per
tenant under the data folder, the timeline, events, and tenant isolation."""

from __future__ import annotations

import io
import secrets
import zipfile

import pytest
from sqlalchemy import select

from rapport.platform.errors import ValidationFailed
from rapport.platform.jobs.models import OutboxEntry
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services
from rapport.tenants.notes import services
from rapport.tenants.notes import timeline as notes_timeline
from rapport.tenants.notes.models import Attachment, Note
from rapport.tenants.notes.sniff import Refused, sniff
from rapport.tenants.notes.storage import storage

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"


def company(app, tenant) -> object:
    with app.app_context(), tenant_session(tenant.ref) as s:
        return company_services.create_company(s, {"name": f"Co {secrets.token_hex(3)}"}).id


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def zip_with(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, b"data")
    return buffer.getvalue()


def test_the_bytes_decide_what_a_file_is():
    assert sniff(PDF) == "application/pdf"
    assert sniff(b"\xff\xd8\xff\xe0" + b"\x00" * 20) == "image/jpeg"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(docx()).endswith("wordprocessingml.document")
    assert sniff(zip_with("report.csv")) == "application/zip"
    assert sniff("name,city\nLi Wei,Zürich\n".encode()) == "text/plain"
    refused = {
        b"MZ\x90\x00\x03": "Programs",
        b"\x7fELF\x02\x01": "Programs",
        b"#!/bin/sh\nrm -rf /\n": "Programs",
        b"  <!DOCTYPE html><p>hi": "HTML",
        b"\xef\xbb\xbf<html><body>": "HTML",
        b'<?xml version="1.0"?><svg onload="alert(1)"/>': "HTML",
        zip_with("setup.exe"): "Archives",
        b"": "empty",
        b"\x00\x01\x02\x03binary": "cannot be attached",
    }
    for data, reason in refused.items():
        with pytest.raises(Refused, match=reason):
            sniff(data)


def test_a_note_and_a_file_appear_on_the_records_timeline(app, tenants):
    a, b = tenants
    company_id = company(app, a)
    with app.app_context():
        with tenant_session(a.ref) as s:
            note = services.create_note(s, "companies", company_id, {"body": "Decides in May"})
            row = services.add_attachment(s, "companies", company_id, "Quote 2031.pdf", PDF)
            note_id, row_id, key = note.id, row.id, row.storage_key
        with tenant_session(a.ref) as s:
            entries = notes_timeline.entries(s, "companies", company_id, limit=10)
            assert {(e.kind, e.title) for e in entries} == {
                ("note", "Note"), ("attachment", f"Attached Quote 2031.pdf ({len(PDF)} bytes)"),
            }  # fmt: skip
            stored = s.get(Attachment, row_id)
            assert stored.content_type == "application/pdf" and stored.size == len(PDF)
            types = [
                e.payload["type"]
                for e in s.scalars(select(OutboxEntry).where(OutboxEntry.job.like("%record_event")))
                if e.payload["data"].get("note_id") == str(note_id)
            ]
            assert types == ["note.created"]
            # Stored under the data folder, in this tenant's own folder.
            path = storage()._path(a.ref.id, key)
            assert path.read_bytes() == PDF and a.ref.id.hex in str(path)
            assert str(path).startswith(str(app.config["RAPPORT"].data_dir))
        with tenant_session(b.ref) as s:
            assert s.get(Note, note_id) is None and s.get(Attachment, row_id) is None
            assert notes_timeline.entries(s, "companies", company_id, limit=10) == []
            with pytest.raises(ValidationFailed):
                services.create_note(s, "companies", company_id, {"body": "Not yours"})
        with tenant_session(a.ref) as s:
            services.delete_attachment(s, row_id)
            services.delete_note(s, note_id)
        # The file goes after the commit (the outbox job runs inline in tests).
        with tenant_session(a.ref):
            assert not path.exists()


def test_attachment_limits(app, tenants):
    a, _b = tenants
    company_id = company(app, a)
    with app.app_context(), tenant_session(a.ref) as s:
        with pytest.raises(ValidationFailed) as too_big:
            services.add_attachment(s, "companies", company_id, "big.pdf", PDF + b" " * 2048,
                                    max_bytes=1024)  # fmt: skip
        assert too_big.value.errors["file"][0].startswith("The file is larger than")
        with pytest.raises(ValidationFailed) as html:
            services.add_attachment(s, "companies", company_id, "a.pdf", b"<html><script>")
        assert "HTML" in html.value.errors["file"][0]
        with pytest.raises(ValidationFailed):
            services.add_attachment(s, "companies", company_id, "empty.txt", b"")
        default = services.add_attachment(s, "companies", company_id, "x" * 300 + ".pdf", PDF)
        assert len(default.filename) <= 200 and default.filename.endswith(".pdf")


def test_a_deleted_records_notes_and_files_go_with_it(app, tenants):
    a, b = tenants
    company_id = company(app, a)
    with app.app_context():
        with tenant_session(a.ref) as s:
            services.create_note(s, "companies", company_id, {"body": "Goes with it"})
            row = services.add_attachment(s, "companies", company_id, "gone.pdf", PDF)
            path = storage()._path(a.ref.id, row.storage_key)
        assert path.exists()
        with tenant_session(a.ref) as s:
            company_services.delete_company(s, company_id)
        with tenant_session(a.ref) as s:  # the record event job ran after the commit
            notes = s.scalars(select(Note).where(Note.record_id == company_id)).all()
            files = s.scalars(select(Attachment).where(Attachment.record_id == company_id)).all()
            assert notes == [] and files == []
            actions = [
                e.payload["type"]
                for e in s.scalars(select(OutboxEntry).where(OutboxEntry.job.like("%record_event")))
                if e.payload.get("record_id") == str(company_id)
            ]
            assert "note.deleted" in actions
        assert not path.exists()


def test_files_no_attachment_names_are_swept_after_a_day(app, tenants):
    import os
    import time

    a, b = tenants
    with app.app_context():
        store = storage()
        orphan, fresh = secrets.token_hex(16), secrets.token_hex(16)
        store.put(a.ref.id, orphan, PDF)  # an upload whose transaction never committed
        store.put(a.ref.id, fresh, PDF)  # one that may still be committing
        day_old = time.time() - services.ORPHAN_AGE - 60
        os.utime(store._path(a.ref.id, orphan), (day_old, day_old))
        company_id = company(app, a)
        with tenant_session(a.ref) as s:
            kept = services.add_attachment(s, "companies", company_id, "kept.pdf", PDF)
            kept_path = store._path(a.ref.id, kept.storage_key)
        os.utime(kept_path, (day_old, day_old))
        with tenant_session(a.ref) as s:
            assert services.remove_orphan_files(s, a.ref) == 1
        assert not store._path(a.ref.id, orphan).exists()
        assert store._path(a.ref.id, fresh).exists() and kept_path.exists()
        with tenant_session(b.ref) as s:  # another tenant's sweep never sees these files
            assert services.remove_orphan_files(s, b.ref) == 0
        assert store._path(a.ref.id, fresh).exists()

"""Notes and attachments over the API: add and list on a record, upload checked by its bytes,
download as an attachment with nosniff, and tenant isolation."""

from __future__ import annotations

import io
import secrets

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def make_company(app, tenant) -> str:
    with app.app_context(), tenant_session(tenant.ref) as s:
        return str(company_services.create_company(s, {"name": f"Co {secrets.token_hex(3)}"}).id)


def upload(api, company_id: str, data: bytes, name: str, content_type: str):  # type: ignore[no-untyped-def]
    return api.post(
        "/api/v1/notes/attachments",
        data={"record_type": "companies", "record_id": company_id,
              "file": (io.BytesIO(data), name, content_type)},
        content_type="multipart/form-data",
    )  # fmt: skip


def test_notes_on_a_record(app, api_a, tenant_a, new_key, api_for, tenant_b, api_error):
    company_id = make_company(app, tenant_a)
    created = api_a.post(
        "/api/v1/notes",
        json={"record_type": "companies", "record_id": company_id, "body": "Prefers email"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    listed = api_a.get(f"/api/v1/notes?record_type=companies&record_id={company_id}").get_json()
    assert [n["body"] for n in listed["items"]] == ["Prefers email"] and listed["total"] == 1
    api_b = api_for(new_key(tenant_b))
    api_error(api_b.get(f"/api/v1/notes/{created.get_json()['id']}"), 404)
    refused = api_b.post(
        "/api/v1/notes",
        json={"record_type": "companies", "record_id": company_id, "body": "Sneaky"},
    )
    api_error(refused, 422)
    assert api_a.delete(f"/api/v1/notes/{created.get_json()['id']}").status_code == 204


def test_upload_is_checked_by_its_bytes_and_downloads_as_attachment(
    app, api_a, tenant_a, api_error
):
    company_id = make_company(app, tenant_a)
    # Called a text file by the client, it is a PNG: the stored type says what it is.
    response = upload(api_a, company_id, PNG, "../../etc/logo.txt", "text/plain")
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["content_type"] == "image/png" and body["filename"] == "logo.txt"
    content = api_a.get(f"/api/v1/notes/attachments/{body['id']}/content")
    assert content.status_code == 200 and content.data == PNG
    assert content.headers["Content-Disposition"].startswith("attachment")
    assert content.headers["X-Content-Type-Options"] == "nosniff"
    assert content.headers["Content-Type"] == "image/png"
    html = upload(
        api_a, company_id, b"<!DOCTYPE html><script>alert(1)</script>", "a.pdf", "application/pdf"
    )
    assert "file" in api_error(html, 422)["errors"]["json"]
    exe = upload(api_a, company_id, b"MZ\x90\x00" + b"\x00" * 100, "report.pdf", "application/pdf")
    assert "file" in api_error(exe, 422)["errors"]["json"]

"""Notes and files in the browser: add from a record, upload checked by its bytes, download as
an attachment with nosniff, delete, and isolation between workspaces."""

from __future__ import annotations

import html
import io
import re
import secrets

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def csrf(client, path: str) -> str:
    return re.search(
        r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)
    ).group(1)


def make_company(app, tenant) -> tuple[str, str]:
    with app.app_context(), tenant_session(tenant.ref) as s:
        company = company_services.create_company(s, {"name": f"Co {secrets.token_hex(3)}"})
        return str(company.id), company.name


def test_add_a_note_and_a_file_then_download_it(client, auth, app, tenants):
    a, b = tenants
    company_id, name = make_company(app, a)
    auth.login_as(a)
    page = f"/{a.slug}/notes/companies/{company_id}"
    assert "No notes yet" in page_text(client.get(page))
    token = csrf(client, page)
    added = client.post(f"/{a.slug}/notes/", data={
        "record_type": "companies", "record_id": company_id, "body": "Budget approved",
        "next": page, "csrf_token": token})  # fmt: skip
    assert added.status_code == 303 and added.headers["Location"].endswith(page)
    empty = client.post(
        f"/{a.slug}/notes/",
        data={
            "record_type": "companies",
            "record_id": company_id,
            "body": " ",
            "csrf_token": token,
        },
    )
    assert empty.status_code == 422 and "Write the note first." in page_text(empty)
    uploaded = client.post(
        f"/{a.slug}/notes/attachments",
        data={"record_type": "companies", "record_id": company_id, "next": page,
              "csrf_token": token, "file": (io.BytesIO(PNG), "plan.png", "text/html")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert uploaded.status_code == 303
    body = page_text(client.get(page))
    assert "Budget approved" in body and "plan.png" in body and "image/png" in body
    link = re.search(rf'href="(/{a.slug}/notes/attachments/[0-9a-f-]+)"', body).group(1)
    download = client.get(link)
    assert download.status_code == 200 and download.data == PNG
    assert download.headers["Content-Disposition"] == "attachment; filename=plan.png"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.mimetype == "image/png"
    refused = client.post(
        f"/{a.slug}/notes/attachments",
        data={"record_type": "companies", "record_id": company_id, "csrf_token": token,
              "file": (io.BytesIO(b"<html><script>alert(1)</script>"), "x.png", "image/png")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert refused.status_code == 422
    assert "HTML and other markup files cannot be attached." in page_text(refused)
    auth.logout()
    auth.login_as(b)
    assert client.get(link.replace(f"/{a.slug}/", f"/{b.slug}/")).status_code == 404
    assert client.get(f"/{b.slug}/notes/companies/{company_id}").status_code == 404
    assert name not in page_text(client.get(f"/{b.slug}/activities/"))

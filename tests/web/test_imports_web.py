"""Importing in the browser: upload, map, preview, run, results and the failed rows download; bad
files and mappings shown next to their field; rights, the module switch, tenants apart."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import uuid

from openpyxl import Workbook
from sqlalchemy import func, select, update

from rapport.platform.jobs.execute import perform
from rapport.platform.jobs.models import OutboxEntry
from rapport.platform.jobs.sweeper import MAX_ATTEMPTS
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.contacts.models import Contact
from rapport.tenants.fields import services as fields
from rapport.tenants.imports import jobs, services
from rapport.tenants.imports.models import ImportBatch
from rapport.tenants.modules import services as modules
from tests.conftest import add_member, csrf_from


def plain(response) -> str:  # type: ignore[no-untyped-def]
    """The page as a person reads it: no tags, single spaces."""
    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(text))


def error_for(response, field: str) -> str | None:  # type: ignore[no-untyped-def]
    body = html.unescape(response.get_data(as_text=True))
    match = re.search(rf'<div class="error" id="e-{field}" role="alert">(.*?)</div>', body, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1))).strip() if match else None


def upload(client, slug: str, record_type: str, name: str, raw: bytes):  # type: ignore[no-untyped-def]
    page = client.get(f"/{slug}/imports/")
    return client.post(
        f"/{slug}/imports/",
        data={
            "record_type": record_type,
            "file": (io.BytesIO(raw), name),
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
        content_type="multipart/form-data",
    )


def post_mapping(client, path: str, chosen: list[str], action: str):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(path).get_data(as_text=True))
    data = {f"column-{i}": value for i, value in enumerate(chosen)}
    return client.post(path, data={**data, "action": action, "csrf_token": token})


def selected(response, column: int) -> str:  # type: ignore[no-untyped-def]
    body = response.get_data(as_text=True)
    select_html = re.search(rf'<select id="f-column-{column}".*?</select>', body, re.S).group(0)
    found = re.search(r'<option value="([^"]*)" selected', select_html)
    return found.group(1) if found else ""


def contacts_in(app, tenant) -> int:  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as s:
        return s.scalar(select(func.count()).select_from(Contact))


def test_upload_map_preview_run_results_and_failed_rows(app, client, auth, tenants, new_tenant):
    tenant = new_tenant("Web import")
    _a, b = tenants
    with app.app_context(), tenant_session(tenant.ref) as s:
        fields.create_field(
            s,
            {"record_type": "contacts", "label": "Budget", "api_name": "budget", "type": "integer"},
        )
    b_before = contacts_in(app, b)
    auth.login_as(tenant)
    raw = (
        b"Vorname;Surname;E-mail;Budget;Colour\n"
        b"Ada;Lovelace;ada@example.com;100;red\n"
        b"Bad;Budget;bad@example.com;lots;blue\n"
    )
    uploaded = upload(client, tenant.slug, "contacts", "people.csv", raw)
    assert uploaded.status_code == 303
    path = uploaded.headers["Location"]
    page = client.get(path)
    text = plain(page)
    assert "Import contacts from people.csv" in text and "2 rows found" in text
    assert "Lovelace, Budget" in text  # each column's first values
    assert [selected(page, i) for i in range(5)] == ["", "last_name", "email", "custom.budget", ""]
    chosen = ["first_name", "last_name", "email", "custom.budget", ""]
    asked = post_mapping(client, path, chosen, "preview")
    assert asked.status_code == 303  # the preview is a job; it has run when the page shows
    preview = client.get(asked.headers["Location"])
    text = plain(preview)
    assert [selected(preview, i) for i in range(5)] == chosen
    assert "Preview: 1 of 2 rows would be imported" in text
    assert "3 Budget: Enter a whole number." in text
    assert contacts_in(app, tenant) == 0  # a preview writes nothing

    ran = post_mapping(client, path, chosen, "run")
    assert ran.status_code == 303
    result = client.get(ran.headers["Location"])
    text = plain(result)
    assert "Done" in text and "1 contact imported" in text
    assert "1 row was not imported" in text and "3 Budget: Enter a whole number." in text
    with app.app_context(), tenant_session(tenant.ref) as s:
        ada = s.scalars(select(Contact).where(Contact.last_name == "Lovelace")).one()
        assert (ada.first_name, ada.email, ada.custom) == (
            "Ada",
            "ada@example.com",
            {"budget": 100},
        )
    link = re.search(r'href="([^"]+/failed\.csv)"', result.get_data(as_text=True)).group(1)
    download = client.get(link)
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows == [
        ["Vorname", "Surname", "E-mail", "Budget", "Colour", "errors"],
        ["Bad", "Budget", "bad@example.com", "lots", "blue", "Budget: Enter a whole number."],
    ]
    # The mapping page of a started import leads to its results; the index lists it.
    assert client.get(path).status_code == 303
    index = plain(client.get(f"/{tenant.slug}/imports/"))
    assert "people.csv" in index and "Contacts" in index
    assert contacts_in(app, b) == b_before
    # Another tenant's member cannot open it.
    auth.logout()
    auth.login_as(b)
    assert client.get(ran.headers["Location"].replace(tenant.slug, b.slug)).status_code == 404


def test_an_excel_file_imports_through_the_same_pages(app, client, auth, tenants, new_tenant):
    tenant = new_tenant("Excel import")
    _a, _b = tenants
    book = Workbook()
    book.active.append(["Name", "Website", "Employees"])
    book.active.append(["Xlsx Ltd", "xlsx.example", "11-50"])
    out = io.BytesIO()
    book.save(out)
    auth.login_as(tenant)
    uploaded = upload(client, tenant.slug, "companies", "firms.xlsx", out.getvalue())
    path = uploaded.headers["Location"]
    ran = post_mapping(client, path, ["name", "website", "size"], "run")
    assert "1 company imported" in plain(client.get(ran.headers["Location"]))


def test_a_bad_file_or_mapping_is_shown_next_to_its_field(app, client, auth, tenants):
    a, _b = tenants
    auth.login_as(a)
    empty = upload(client, a.slug, "contacts", "empty.csv", b"")
    assert empty.status_code == 422 and error_for(empty, "file") == "The file is empty."
    twice = upload(client, a.slug, "contacts", "twice.csv", b"Name,NAME\nx,y\n")
    assert error_for(twice, "file") == (
        "Two columns are headed “NAME”. Give each column its own heading."
    )
    assert 'value="contacts" selected' in twice.get_data(as_text=True)  # the choice is kept
    uploaded = upload(client, a.slug, "contacts", "ok.csv", b"Surname,Family name\nA,B\n")
    path = uploaded.headers["Location"]
    refused = post_mapping(client, path, ["last_name", "last_name"], "preview")
    assert refused.status_code == 422
    assert error_for(refused, "column-1") == (
        "Column “Surname” already goes into Last name; choose another field or don't import "
        "this column."
    )
    assert selected(refused, 1) == "last_name"  # the member's choices stay on the page


def test_rights_decide_who_imports_what_and_whose_imports_they_see(app, client, auth, tenants):
    a, _b = tenants
    reader = add_member(app, a, "read_only")
    auth.login(reader.email, reader.password)
    assert client.get(f"/{a.slug}/imports/").status_code == 403
    auth.logout()
    rep = add_member(app, a, "sales_rep")
    auth.login(rep.email, rep.password)
    uploaded = upload(client, a.slug, "contacts", "rep.csv", b"Last name\nRepson\n")
    assert uploaded.status_code == 303
    auth.logout()
    other = add_member(app, a, "sales_rep")
    auth.login(other.email, other.password)
    assert "rep.csv" not in plain(client.get(f"/{a.slug}/imports/"))
    assert client.get(uploaded.headers["Location"]).status_code == 404
    auth.logout()
    auth.login_as(a)  # the owner administers: every member's imports
    assert "rep.csv" in plain(client.get(f"/{a.slug}/imports/"))


def test_the_module_switches_decide_what_is_offered(app, client, auth, tenants, new_tenant):
    tenant = new_tenant("Modules import")
    _a, _b = tenants
    with app.app_context(), tenant_session(tenant.ref) as s:
        modules.switch(s, "leads", False)
    auth.login_as(tenant)
    page = client.get(f"/{tenant.slug}/imports/")
    assert 'value="contacts"' in page.get_data(as_text=True)
    assert 'value="leads"' not in page.get_data(as_text=True)
    posted = upload(client, tenant.slug, "leads", "l.csv", b"Last name\nX\n")
    assert posted.status_code == 422
    assert error_for(posted, "record_type") == "Choose what to import from the list."
    with app.app_context(), tenant_session(tenant.ref) as s:
        modules.switch(s, "imports", False)
    assert client.get(f"/{tenant.slug}/imports/").status_code == 404


# -- an import or a preview that keeps failing; old imports --------------------------------------
def batch_of(path: str) -> uuid.UUID:
    return uuid.UUID(path.rstrip("/").split("/")[-2])


def damage_row(app, tenant, batch_id: uuid.UUID, index: int) -> list:  # type: ignore[no-untyped-def,type-arg]
    """Store one row as an object instead of a list of cells (no reader produces that): writing
    it raises an error that is no row's fault. Return the rows as they were."""
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = s.get(ImportBatch, batch_id)
        kept = [list(row) for row in batch.rows]
        rows = [list(row) for row in kept]
        rows[index][1] = {"Name": "Broken"}
        batch.rows = rows
        return kept


def last_attempt(app, tenant, event_key: str) -> None:  # type: ignore[no-untyped-def]
    """Spend the outbox row's retries but one, then deliver it: its last attempt."""
    with app.app_context(), tenant_session(tenant.ref) as s:
        entry = s.scalars(select(OutboxEntry).where(OutboxEntry.event_key == event_key)).one()
        entry.attempts = MAX_ATTEMPTS - 1
        entry_id, job_name = str(entry.id), entry.job
    with app.app_context():
        perform(str(tenant.ref.id), job_name, entry_id)


def refreshes(response) -> bool:  # type: ignore[no-untyped-def]
    return 'http-equiv="refresh"' in response.get_data(as_text=True)


def test_an_import_that_keeps_failing_ends_as_failed_on_its_page(
    app, client, auth, tenants, new_tenant, monkeypatch
):
    tenant = new_tenant("Web stuck import")
    _a, _b = tenants
    monkeypatch.setattr(jobs, "CHUNK", 1)
    auth.login_as(tenant)
    uploaded = upload(client, tenant.slug, "companies", "f.csv", b"Name\nFirst\nSecond\nThird\n")
    path = uploaded.headers["Location"]
    batch_id = batch_of(path)
    damage_row(app, tenant, batch_id, 1)
    ran = post_mapping(client, path, ["name"], "run")
    running = client.get(ran.headers["Location"])
    assert "Running 1 of 3 rows worked through" in plain(running) and refreshes(running)

    last_attempt(app, tenant, f"import:{batch_id}:1")
    page = client.get(ran.headers["Location"])
    text = plain(page)
    assert "Failed" in text and "1 company imported" in text and not refreshes(page)
    assert (
        "The import stopped at line 3 after an unexpected error; the rows before it were "
        "imported. Try again or contact support."
    ) in text


def test_a_preview_that_keeps_failing_stops_refreshing_and_can_be_tried_again(
    app, client, auth, tenants, new_tenant
):
    tenant = new_tenant("Web stuck preview")
    _a, _b = tenants
    auth.login_as(tenant)
    uploaded = upload(client, tenant.slug, "companies", "f.csv", b"Name\nFirst\nSecond\n")
    path = uploaded.headers["Location"]
    batch_id = batch_of(path)
    kept = damage_row(app, tenant, batch_id, 1)
    asked = post_mapping(client, path, ["name"], "preview")
    checking = client.get(asked.headers["Location"])
    assert "Checking every row" in plain(checking) and refreshes(checking)

    last_attempt(app, tenant, f"import-preview:{batch_id}:1")
    stopped = client.get(path)
    text = plain(stopped)
    assert "The preview stopped" in text and not refreshes(stopped)
    assert "The preview stopped after an unexpected error. Preview again" in text

    with app.app_context(), tenant_session(tenant.ref) as s:
        s.get(ImportBatch, batch_id).rows = kept  # whatever it was has passed
    again = post_mapping(client, path, ["name"], "preview")
    assert "Preview: 2 of 2 rows would be imported" in plain(client.get(again.headers["Location"]))


def test_an_import_past_the_time_its_file_is_kept_still_shows_its_results(
    app, client, auth, tenants, new_tenant
):
    tenant = new_tenant("Web old import")
    _a, _b = tenants
    auth.login_as(tenant)
    raw = b"Name,Website\nGood,\nBad,not a website\n"
    uploaded = upload(client, tenant.slug, "companies", "old.csv", raw)
    ran = post_mapping(client, uploaded.headers["Location"], ["name", "website"], "run")
    result = ran.headers["Location"]
    assert "/failed.csv" in client.get(result).get_data(as_text=True)
    with app.app_context(), tenant_session(tenant.ref) as s:
        s.execute(
            update(ImportBatch).values(finished_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=91))
        )
    with app.app_context(), tenant_session(tenant.ref) as s:
        services.tidy(s)
    page = client.get(result)
    text = plain(page)
    assert "1 company imported" in text and "1 row was not imported" in text
    assert "Website: Enter a web address such as https://example.com." in text
    assert "The file itself is no longer kept (an import keeps it for 90 days)" in text
    assert "/failed.csv" not in page.get_data(as_text=True)
    assert client.get(f"{result}/failed.csv").status_code == 410

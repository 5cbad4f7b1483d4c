"""Hard caps on levels: stored records and file storage are refused past the plan's limit on
every write path (browser form, API, service in a job), with a message that says what ran out;
the counters stay right at the limit and are corrected by the hourly job."""

from __future__ import annotations

import html
import io
import secrets
import threading

import pytest
from sqlalchemy import func, insert, select

from rapport.billing import lifecycle, metering
from rapport.billing.quotas import LevelExceeded, QuotaExceeded
from rapport.platform.db import db
from rapport.platform.ids import new_id
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as companies
from rapport.tenants.companies.models import Company
from rapport.tenants.leads import services as leads
from rapport.tenants.notes.models import Attachment

CAP = 5_000  # the trial's stored records
RECORDS_FULL = "The Free trial plan holds up to 5,000 stored records and this workspace has 5,000."
STORAGE_FULL = "The Free trial plan includes 500 MB of file storage"
MB = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def companies_named(app, tenant, name: str) -> int:  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as session:
        return session.scalar(select(func.count()).select_from(Company).where(Company.name == name))


def stored_records(app, tenant) -> int:  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as session:
        return metering.count_records(session)


def hourly_job(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        metering.write_hourly_totals(db.session)
        db.session.commit()


def bulk_companies(app, tenant, n: int) -> None:  # type: ignore[no-untyped-def]
    """Rows that arrived without a flush (a bulk statement): the counter does not see them until
    the hourly job recounts."""
    with app.app_context(), tenant_session(tenant.ref) as session:
        rows = [{"id": new_id(), "name": f"Bulk {i}"} for i in range(n)]
        session.connection().execute(insert(Company.__table__), rows)


@pytest.fixture()
def nearly_full(app, new_tenant):  # type: ignore[no-untyped-def]
    """A trial workspace two records below its cap, as the hourly job counted it."""
    tenant = new_tenant("Nearly Full")
    bulk_companies(app, tenant, CAP - 2 - stored_records(app, tenant))
    hourly_job(app)
    return tenant


def test_records_past_the_cap_are_refused_on_every_path(
    app, auth, client, api_of, tenants, nearly_full
) -> None:
    tenant = nearly_full
    api = api_of(tenant, "admin")
    auth.login_as(tenant)
    assert auth.post(f"/{tenant.slug}/companies/", {"name": "Fits One"}).status_code == 303
    answer = api.post("/api/v1/companies", json={"name": "Fits Two"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert stored_records(app, tenant) == CAP

    # The browser: the form again, with the message next to it, nothing written.
    name = f"Too Many {secrets.token_hex(3)}"
    refused = auth.post(f"/{tenant.slug}/companies/", {"name": name})
    assert refused.status_code == 422
    page = text(refused)
    assert RECORDS_FULL in page and "Upgrade the plan in Settings → Billing" in page
    assert f'value="{name}"' in page  # what was typed is still there
    # The API: 402 like the API-call quota, saying what ran out and how to raise it.
    answer = api.post("/api/v1/companies", json={"name": name})
    assert answer.status_code == 402, answer.get_data(as_text=True)
    assert answer.get_json()["message"].startswith(RECORDS_FULL)
    # A service called by a job, and any other record type.
    refused = pytest.raises(QuotaExceeded, match="5,000 stored records")
    with app.app_context(), refused, tenant_session(tenant.ref) as session:
        leads.create_lead(session, {"last_name": "Refused", "company_name": "Lead Co"})
    assert companies_named(app, tenant, name) == 0
    assert stored_records(app, tenant) == CAP

    # Deleting a record makes room for one more.
    with app.app_context(), tenant_session(tenant.ref) as session:
        first = session.scalars(select(Company).where(Company.name == "Fits One")).one()
        companies.delete_company(session, first.id)
    assert api.post("/api/v1/companies", json={"name": name}).status_code == 201
    assert api.post("/api/v1/companies", json={"name": "One Too Many"}).status_code == 402


def test_other_workspaces_are_not_limited_by_it(app, api_of, tenants, nearly_full) -> None:
    tenant_a, _ = tenants
    api_of(nearly_full, "admin").post("/api/v1/companies", json={"name": "Fill 1"})
    api_of(nearly_full, "admin").post("/api/v1/companies", json={"name": "Fill 2"})
    assert (
        api_of(tenant_a, "admin").post("/api/v1/companies", json={"name": "Elsewhere"}).status_code
        == 201
    )


def test_the_hourly_job_corrects_a_counter_that_drifted(app, api_of, nearly_full) -> None:
    api = api_of(nearly_full, "admin")
    bulk_companies(app, nearly_full, 2)  # the counter still thinks two places are free
    assert api.post("/api/v1/companies", json={"name": "Counted Late"}).status_code == 201
    hourly_job(app)  # recounts: 5,001 stored
    assert api.post("/api/v1/companies", json={"name": "Refused Now"}).status_code == 402
    with app.app_context():
        from rapport.billing.models import UsageHour

        totals = db.session.scalars(
            select(UsageHour.quantity).where(
                UsageHour.tenant_id == nearly_full.ref.id, UsageHour.meter == "records"
            )
        ).all()
        assert max(totals) == CAP + 1


def test_concurrent_writers_at_the_limit_cannot_both_take_the_last_place(
    app, nearly_full, backend
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite serializes writers anyway; the row lock matters on PostgreSQL")
    api_of_tenant = nearly_full
    with app.app_context(), tenant_session(api_of_tenant.ref) as session:
        companies.create_company(session, {"name": "Takes One"})  # one place left
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def write(n: int) -> None:
        with app.app_context():
            start.wait()
            try:
                with tenant_session(api_of_tenant.ref) as session:
                    companies.create_company(session, {"name": f"Racer {n}"})
                outcomes.append("created")
            except LevelExceeded:
                outcomes.append("refused")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "refused", "refused", "refused"]
    assert stored_records(app, api_of_tenant) == CAP


def big_attachment(app, tenant, size: int) -> None:  # type: ignore[no-untyped-def]
    """An attachment row as a bulk import would leave it (its bytes are not needed here)."""
    with app.app_context(), tenant_session(tenant.ref) as session:
        company = companies.create_company(session, {"name": "Files Co"})
        session.connection().execute(
            insert(Attachment.__table__),
            [{"id": new_id(), "record_type": "companies", "record_id": company.id,
              "filename": "archive.zip", "content_type": "application/zip", "size": size,
              "sha256": "0" * 64, "storage_key": new_id().hex}],
        )  # fmt: skip
    hourly_job(app)


def company_of(app, tenant) -> str:  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as session:
        return str(session.scalars(select(Company.id).where(Company.name == "Files Co")).one())


def test_uploads_past_the_storage_cap_are_refused_next_to_the_field(
    app, auth, api_of, new_tenant, smtp
) -> None:
    tenant = new_tenant("Files Full")
    big_attachment(app, tenant, 500 * MB - 300_000)  # 300 kB left
    record_id = company_of(app, tenant)
    auth.login_as(tenant)
    form = {"record_type": "companies", "record_id": record_id}
    small = auth.post(
        f"/{tenant.slug}/notes/attachments", {**form, "file": (io.BytesIO(PNG), "small.png")}
    )
    assert small.status_code == 303
    # Does not fit in what is left (and stays small enough to be parsed in memory).
    large = PNG + b"\x00" * 400_000
    refused = auth.post(
        f"/{tenant.slug}/notes/attachments", {**form, "file": (io.BytesIO(large), "large.png")}
    )
    assert refused.status_code == 422
    page = text(refused)
    assert STORAGE_FULL in page and "this file does not fit" in page
    assert 'class="field-error"' in page or "error" in page
    api = api_of(tenant, "admin")
    answer = api.client.post(
        "/api/v1/notes/attachments",
        data={**form, "file": (io.BytesIO(large), "large.png")},
        headers={"Authorization": f"Bearer {api.text}"},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 402, answer.get_data(as_text=True)
    assert answer.get_json()["message"].startswith(STORAGE_FULL)
    with app.app_context(), tenant_session(tenant.ref) as session:
        names = session.scalars(select(Attachment.filename)).all()
    assert sorted(names) == ["archive.zip", "small.png"]

    # Past 80% of the included storage: one email to the admins, however often the sweep runs.
    with app.app_context():
        for _ in range(2):
            lifecycle.sweep(db.session)
            db.session.commit()
    mails = [m for m in smtp.to(tenant.owner_email) if "File storage (MB) at" in str(m["Subject"])]
    assert len(mails) == 1, [str(m["Subject"]) for m in smtp.to(tenant.owner_email)]


def test_an_import_stops_at_the_cap_row_by_row_and_says_why(app, nearly_full) -> None:
    from rapport.tenants.imports import services as imports
    from rapport.tenants.imports.models import ImportBatch

    csv = "first_name,last_name,company\n" + "".join(
        f"Ada,Import {n},Engines {n}\n" for n in range(4)
    )
    with app.app_context(), tenant_session(nearly_full.ref) as session:
        batch = imports.start(session, "leads", "leads.csv", csv.encode(),
                              user_id=nearly_full.owner_id, user_label="owner")  # fmt: skip
        preview = imports.preview(session, batch)
        imports.confirm(session, batch)  # the import job runs after this commit
        batch_id = batch.id
    with app.app_context(), tenant_session(nearly_full.ref) as session:
        batch = session.get(ImportBatch, batch_id)
        assert batch.created == preview.created == 2  # the two free places
        assert [e["line"] for e in batch.errors] == [e["line"] for e in preview.errors] == [4, 5]
        assert all(RECORDS_FULL in str(e["errors"]) for e in batch.errors)
    assert stored_records(app, nearly_full) == CAP


def test_a_rolled_back_savepoint_takes_its_count_with_it(app, new_tenant) -> None:
    from rapport.billing import levels

    tenant = new_tenant("Savepoints")
    with app.app_context(), tenant_session(tenant.ref) as session:
        companies.create_company(session, {"name": "Kept"})
    start = stored_records(app, tenant)
    with app.app_context(), tenant_session(tenant.ref) as session:
        companies.create_company(session, {"name": "Kept Too"})
        savepoint = session.begin_nested()
        companies.create_company(session, {"name": "Undone"})
        session.flush()
        savepoint.rollback()
    with app.app_context(), tenant_session(tenant.ref) as session:
        assert levels.current(session, levels.RECORDS) == start + 1 == stored_records(app, tenant)

"""Importing records of every type: reading CSV and Excel, suggesting the mapping, a preview that
writes nothing and reports what the run does, the run as a job (as the member, idempotent,
chunked), roles, modules, lead routing, and tenants apart."""

from __future__ import annotations

import datetime as dt
import io
import secrets

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, update

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import NotFound, PermissionDenied, ValidationFailed
from rapport.platform.jobs.execute import perform
from rapport.platform.jobs.models import OutboxEntry
from rapport.platform.jobs.schedule import declared
from rapport.platform.jobs.sweeper import MAX_ATTEMPTS
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.activities.models import Activity
from rapport.tenants.companies import services as companies
from rapport.tenants.companies.models import Company
from rapport.tenants.contacts.models import Contact
from rapport.tenants.deals.models import Deal
from rapport.tenants.fields import services as fields
from rapport.tenants.imports import jobs, mapping, readers, services
from rapport.tenants.imports.models import DONE, DRAFT, FAILED, QUEUED, RUNNING, ImportBatch
from rapport.tenants.leads.models import Lead
from rapport.tenants.modules import services as modules
from rapport.tenants.pipelines import queries as pipelines
from rapport.tenants.roles import access
from rapport.tenants.roles import services as roles
from rapport.tenants.search.models import SearchEntry
from rapport.tenants.teams import services as teams
from tests.conftest import add_member


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def run_import(app, tenant, record_type, raw, name="data.csv", chosen=None, user=None):  # type: ignore[no-untyped-def]
    """Upload, (re)map, confirm: the job runs inline after the commit. Return the batch."""
    user_id = user.user_id if user else tenant.owner_id
    with app.app_context(), tenant_session(tenant.ref) as s:
        if user is not None:
            access.bind(s, user.user_id, user.role)
        batch = services.start(
            s, record_type, name, raw, user_id=user_id, user_label="importer@example.com"
        )
        if chosen is not None:
            services.set_mapping(s, batch, chosen)
        services.confirm(s, batch)
        batch_id = batch.id
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = s.get(ImportBatch, batch_id)
        s.expunge(batch)
        return batch


def count(app, tenant, model) -> int:  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as s:
        return s.scalar(select(func.count()).select_from(model))


# -- reading ---------------------------------------------------------------------------------------
def test_csv_with_bom_semicolons_tabs_and_quoted_fields_is_read():
    raw = '\ufeffName;Notes;Size\n"Acme; Inc";"two\nlines";12\n\n;;\nBolt;;\n'.encode()
    table = readers.read(raw, "companies.csv")
    assert table.headings == ["Name", "Notes", "Size"]
    assert table.rows == [(2, ["Acme; Inc", "two\nlines", "12"]), (5, ["Bolt", None, None])]
    tabbed = readers.read(b"Name\tCity\nAcme\tLyon\n", "x.tsv")
    assert tabbed.rows == [(2, ["Acme", "Lyon"])]
    commas = readers.read(b'Name,City\n"Acme, Inc",Lyon\n', "x.csv")
    assert commas.rows == [(2, ["Acme, Inc", "Lyon"])]


def test_excel_cells_keep_their_types():
    book = Workbook()
    sheet = book.active
    sheet.append(["Name", "Close date", "Amount", "Seats", "Call at", "Active"])
    sheet.append(["Ada", dt.date(2026, 6, 30), 1250.5, 42, dt.datetime(2026, 7, 1, 14, 30), True])
    sheet["B2"].number_format = "yyyy-mm-dd"
    sheet["E2"].number_format = "yyyy-mm-dd hh:mm"
    book.create_sheet("Ignored").append(["Other"])
    out = io.BytesIO()
    book.save(out)
    table = readers.read(out.getvalue(), "deals.xlsx")
    assert table.headings == ["Name", "Close date", "Amount", "Seats", "Call at", "Active"]
    (line, cells) = table.rows[0]
    assert line == 2
    assert cells == ["Ada", dt.date(2026, 6, 30), 1250.5, 42, dt.datetime(2026, 7, 1, 14, 30), True]
    assert type(cells[1]) is dt.date


@pytest.mark.parametrize(
    ("raw", "name", "message"),
    [
        (b"", "x.csv", "The file is empty."),
        (b"\n\n  \n", "x.csv", "The file is empty."),
        (b"Name,City\n", "x.csv", "The file has headings but no rows to import."),
        (b"Name,name\nA,B\n", "x.csv", "Two columns are headed “name”."),
        ("Name\nZoë\n".encode("latin-1"), "x.csv", "Save the file as CSV in UTF-8"),
        (b"PK\x03\x04garbage", "x.xlsx", "This is not an Excel workbook"),
        (b"\xd0\xcf\x11\xe0 old", "x.xls", "Save the file as Excel workbook (.xlsx) or CSV"),
    ],
)
def test_a_file_that_cannot_be_imported_says_why_on_the_file_field(raw, name, message):
    with pytest.raises(ValidationFailed) as refused:
        readers.read(raw, name)
    assert message in refused.value.errors["file"][0]


def test_size_and_row_limits(monkeypatch):
    monkeypatch.setattr(readers, "MAX_ROWS", 3)
    with pytest.raises(ValidationFailed) as refused:
        readers.read(b"Name\n" + b"".join(b"R%d\n" % i for i in range(4)), "x.csv")
    assert refused.value.errors["file"] == ["Import at most 3 rows at a time; split the file."]
    assert len(readers.read(b"Name\nA\nB\nC\n", "x.csv").rows) == 3
    monkeypatch.setattr(readers, "MAX_BYTES", 1024 * 1024)
    with pytest.raises(ValidationFailed) as refused:
        readers.read(b"Name\n" + b"x" * (1024 * 1024), "x.csv")
    assert refused.value.errors["file"] == ["Use a file of at most 1 MB."]


# -- mapping ---------------------------------------------------------------------------------------
def test_columns_are_matched_by_name_label_api_name_and_alias(app, tenants, new_tenant):
    # A workspace of its own: the fields made here would show on the shared tenants' forms.
    a, _b = new_tenant("Mapping"), tenants[1]
    suffix = secrets.token_hex(2)
    with app.app_context(), tenant_session(a.ref) as s:
        fields.create_field(
            s,
            {
                "record_type": "contacts",
                "label": f"Shoe size {suffix}",
                "api_name": f"shoe_{suffix}",
                "type": "integer",
            },
        )
        fields.create_field(
            s,
            {
                "record_type": "contacts",
                "label": f"Badge {suffix}",
                "api_name": f"badge_code_{suffix}",
                "type": "text",
            },
        )
    with app.app_context(), tenant_session(a.ref) as s:
        offered = mapping.targets(s, "contacts")
        headings = [
            "First name",
            "SURNAME",
            "E-mail address",
            "Company",
            f"shoe size {suffix}",
            f"Badge-Code-{suffix}",
            "Owner",
            "Colour",
            "email",
        ]
        assert mapping.suggest(headings, offered) == [
            "first_name",
            "last_name",
            "email",
            "company_id",
            f"custom.shoe_{suffix}",
            f"custom.badge_code_{suffix}",
            "owner_id",
            None,
            None,
        ]
        # The same headings for a lead: "Company" is the lead's company name.
        assert mapping.suggest(["Company", "State", "Notes"], mapping.targets(s, "leads")) == [
            "company_name",
            "region",
            "description",
        ]
        names = {t.name for t in mapping.targets(s, "deals")}
        assert {"name", "amount", "currency", "company_id", "pipeline_id", "stage_id"} <= names
        assert "status" not in names  # not a field a form writes


def test_a_mapping_with_one_field_twice_or_a_barred_field_is_refused_next_to_the_column(
    app, tenants
):
    a, _b = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        batch = services.start(
            s,
            "contacts",
            "c.csv",
            b"Surname,Name,Phone\nA,B,1\n",
            user_id=a.owner_id,
            user_label=a.owner_email,
        )
        with pytest.raises(ValidationFailed) as refused:
            services.set_mapping(s, batch, ["last_name", "last_name", "phone"])
        assert refused.value.errors == {
            "column-1": [
                "Column “Surname” already goes into Last name; choose another field "
                "or don't import this column."
            ]
        }
        with pytest.raises(ValidationFailed) as refused:
            services.set_mapping(s, batch, ["last_name", "id", None])
        assert "column-1" in refused.value.errors
        warnings = services.set_mapping(s, batch, [None, None, "phone"])
        assert warnings == [
            "No column goes into Last name, which is required: rows without it will not be "
            "imported."
        ]


# -- preview and run -------------------------------------------------------------------------------
CONTACTS = (
    "First name,Last name,Email,Company,Budget,Tier,Badge,Code,Owner\n"
    "Ada,Lovelace,ada@example.com,{company},100,Gold,B1,C1,{owner}\n"  # 2: good
    "Bad,Budget,,{company},abc,gold,B2,C2,\n"  # 3: not a number
    "Bad,Tier,,,,Platinum,B3,C3,\n"  # 4: unknown option
    "Bad,Badge,,,,,,C4,\n"  # 5: required empty
    "Bad,Code,,,,,B5,C1,\n"  # 6: unique clash
    "Bad,Company,,Nowhere {company},,,B6,C6,\n"  # 7: no such company
    "Grace,Hopper,grace@example.com,,7,silver,B7,C7,{owner}\n"  # 8: good
)


def _contact_fields(app, tenant) -> str:  # type: ignore[no-untyped-def]
    company = unique("Analytical Engines")
    with app.app_context(), tenant_session(tenant.ref) as s:
        companies.create_company(s, {"name": company})
        fields.create_field(
            s,
            {"record_type": "contacts", "label": "Budget", "api_name": "budget", "type": "integer"},
        )
        fields.create_field(
            s,
            {
                "record_type": "contacts",
                "label": "Tier",
                "api_name": "tier",
                "type": "single_select",
                "options": [
                    {"value": "gold", "label": "Gold"},
                    {"value": "silver", "label": "Silver"},
                ],
            },
        )
        fields.create_field(
            s,
            {
                "record_type": "contacts",
                "label": "Badge",
                "api_name": "badge",
                "type": "text",
                "required": True,
            },
        )
        fields.create_field(
            s,
            {
                "record_type": "contacts",
                "label": "Code",
                "api_name": "code",
                "type": "text",
                "unique": True,
            },
        )
    return company


EXPECTED_ERRORS = [
    {"line": 3, "errors": {"custom.budget": ["Enter a whole number."]}},
    {"line": 4, "errors": {"custom.tier": ["Choose one of the options."]}},
    {"line": 5, "errors": {"custom.badge": ["This field is required."]}},
    {"line": 6, "errors": {"custom.code": ["Another record already has this Code (unique)."]}},
    {"line": 7, "errors": {"company_id": ["No company is named “Nowhere {company}”."]}},
]


def test_a_preview_writes_nothing_and_reports_what_the_run_then_does(app, tenants, new_tenant):
    tenant = new_tenant("Importers")
    _a, b = tenants
    company = _contact_fields(app, tenant)
    raw = CONTACTS.format(company=company, owner=tenant.owner_email).encode()
    expected = [
        {**e, "errors": {k: [m.format(company=company) for m in v] for k, v in e["errors"].items()}}
        for e in EXPECTED_ERRORS
    ]
    watched = (Contact, AuditEntry, OutboxEntry, SearchEntry)
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = services.start(
            s, "contacts", "people.csv", raw, user_id=tenant.owner_id, user_label=tenant.owner_email
        )
        batch_id = batch.id
        assert batch.mapping == [
            "first_name",
            "last_name",
            "email",
            "company_id",
            "custom.budget",
            "custom.tier",
            "custom.badge",
            "custom.code",
            "owner_id",
        ]
    before = {m: count(app, tenant, m) for m in watched}
    b_before = count(app, b, Contact)
    with app.app_context(), tenant_session(tenant.ref) as s:
        outcome = services.preview(s, s.get(ImportBatch, batch_id))
    assert outcome.created == 2 and outcome.errors == expected
    assert {m: count(app, tenant, m) for m in watched} == before

    with app.app_context(), tenant_session(tenant.ref) as s:
        services.confirm(s, s.get(ImportBatch, batch_id))
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = s.get(ImportBatch, batch_id)
        assert (batch.status, batch.created, batch.failed) == (DONE, 2, 5)
        assert batch.errors == expected
        ada = s.scalars(select(Contact).where(Contact.last_name == "Lovelace")).one()
        assert ada.custom == {"budget": 100, "tier": "gold", "badge": "B1", "code": "C1"}
        assert ada.owner_id == tenant.owner_id
        assert s.get(Company, ada.company_id).name == company
        grace = s.scalars(select(Contact).where(Contact.last_name == "Hopper")).one()
        assert grace.custom["tier"] == "silver" and grace.company_id is None
        created = s.scalars(select(AuditEntry).where(AuditEntry.action == "contact.created")).all()
        assert {(e.actor_type, e.actor_id) for e in created} == {("user", str(tenant.owner_id))}
        assert len(created) == 2
        done = s.scalars(select(AuditEntry).where(AuditEntry.action == "import.completed")).one()
        assert done.actor_id == str(tenant.owner_id) and done.target_id == str(batch_id)
        assert done.changes["created"] == [None, 2] and done.changes["failed"] == [None, 5]
        assert done.changes["file_name"] == [None, "people.csv"]
        csv_text = services.failed_rows_csv(s, batch)
    assert csv_text.splitlines()[0] == (
        "First name,Last name,Email,Company,Budget,Tier,Badge,Code,Owner,errors"
    )
    assert f"Bad,Budget,,{company},abc,gold,B2,C2,,Budget: Enter a whole number." in csv_text
    assert count(app, b, Contact) == b_before  # the other tenant saw nothing


def test_running_the_same_job_again_creates_nothing_twice(app, tenants, new_tenant, monkeypatch):
    tenant = new_tenant("Twice")
    _a, b = tenants
    monkeypatch.setattr(jobs, "CHUNK", 2)  # five rows: three chunks, each queued by the one before
    raw = ("Name,City\n" + "".join(f"Firm {i},Lyon\n" for i in range(5))).encode()
    b_before = count(app, b, Company)
    batch = run_import(app, tenant, "companies", raw)
    assert (batch.status, batch.position, batch.created, batch.failed) == (DONE, 5, 5, 0)
    with app.app_context():
        for offset in (0, 2, 4, 0):  # re-deliveries of every chunk
            perform(
                str(tenant.ref.id),
                jobs.run_import.job_name,
                payload={"batch_id": str(batch.id), "offset": offset},
            )
    with app.app_context(), tenant_session(tenant.ref) as s:
        names = s.scalars(select(Company.name).where(Company.name.like("Firm %"))).all()
        assert sorted(names) == [f"Firm {i}" for i in range(5)]
        again = s.get(ImportBatch, batch.id)
        assert (again.created, again.position) == (5, 5)
        done = s.scalars(select(AuditEntry).where(AuditEntry.action == "import.completed")).all()
        assert len(done) == 1
    assert count(app, b, Company) == b_before


def test_every_record_type_imports_with_relations_by_name(app, tenants, new_tenant):
    tenant = new_tenant("Everything")
    _a, _b = tenants
    with app.app_context(), tenant_session(tenant.ref) as s:
        companies.create_company(s, {"name": "Parent Co"})
        pipeline = pipelines.default_pipeline(s)
        stage = pipelines.pipeline_stages(s, pipeline.id)[1]
        pipeline_name, stage_name = pipeline.name, stage.name
    made = run_import(
        app,
        tenant,
        "companies",
        b"Name,Parent company,Website,Industry,Do not email\n"
        b"Child Co,Parent Co,child.example,,Yes\n",
    )
    assert (made.created, made.errors) == (1, [])
    book = Workbook()
    book.active.append(["Deal", "Company", "Amount", "Currency", "Close date", "Pipeline", "Stage"])
    book.active.append(
        [
            "Big one",
            "Child Co",
            1250.5,
            "eur",
            dt.date(2026, 6, 30),
            pipeline_name,
            stage_name.upper(),
        ]
    )
    book.active.append(["Lost one", "Child Co", 10, "EUR", None, pipeline_name, "No such stage"])
    book.active["E2"].number_format = "yyyy-mm-dd"
    out = io.BytesIO()
    book.save(out)
    deals = run_import(app, tenant, "deals", out.getvalue(), name="deals.xlsx")
    assert deals.created == 1
    assert deals.errors == [
        {
            "line": 3,
            "errors": {
                "stage_id": [f"The pipeline “{pipeline_name}” has no stage named “No such stage”."]
            },
        }
    ]
    activities = run_import(
        app,
        tenant,
        "activities",
        b"Subject,Type,Due\nCall Ada,Call,2026-07-01 09:30\nNo kind,Juggling,\n",
    )
    assert activities.created == 1 and activities.errors[0]["line"] == 3
    assert list(activities.errors[0]["errors"]) == ["kind"]
    with app.app_context(), tenant_session(tenant.ref) as s:
        child = s.scalars(select(Company).where(Company.name == "Child Co")).one()
        parent = s.scalars(select(Company).where(Company.name == "Parent Co")).one()
        assert child.parent_id == parent.id and child.website == "https://child.example"
        assert child.do_not_email is True
        deal = s.scalars(select(Deal).where(Deal.name == "Big one")).one()
        assert (deal.company_id, deal.stage_id, str(deal.amount), deal.currency) == (
            child.id,
            stage.id,
            "1250.50",
            "EUR",
        )
        assert deal.expected_close_date == dt.date(2026, 6, 30)
        call = s.scalars(select(Activity).where(Activity.subject == "Call Ada")).one()
        assert call.kind == "call" and call.due_at == dt.datetime(2026, 7, 1, 9, 30, tzinfo=dt.UTC)


def test_imported_leads_are_routed_like_typed_ones(app, tenants, new_tenant):
    tenant = new_tenant("Routing")
    _a, _b = tenants
    with app.app_context(), tenant_session(tenant.ref) as s:
        team = teams.create_team(s, {"name": "Iberia"})
        teams.add_member(s, team.id, {"user_id": str(tenant.owner_id)})
        teams.create_territory(s, {"name": "Spain", "team_id": str(team.id), "countries": ["ES"]})
    raw = "Surname,Company,Country\nGarcía,Olé SL,ES\nDupont,Pain SA,FR\n".encode()
    batch = run_import(app, tenant, "leads", raw)
    assert batch.created == 2
    with app.app_context(), tenant_session(tenant.ref) as s:
        garcia = s.scalars(select(Lead).where(Lead.last_name == "García")).one()
        dupont = s.scalars(select(Lead).where(Lead.last_name == "Dupont")).one()
        assert garcia.owner_id == tenant.owner_id and garcia.source == "import"
        assert dupont.owner_id is None


# -- roles and modules -----------------------------------------------------------------------------
def test_a_field_the_role_hides_is_not_offered_and_is_refused(app, tenants, new_tenant):
    tenant = new_tenant("Hidden import")
    _a, _b = tenants
    with app.app_context(), tenant_session(tenant.ref) as s:
        fields.create_field(
            s, {"record_type": "contacts", "label": "Score", "api_name": "score", "type": "integer"}
        )
        role = roles.create_role(s, "Importer", copy_of="sales_rep")
        roles.update_role(
            s, role.id, fields_spec={"contacts": {"phone": "hidden", "score": "read_only"}}
        )
        key = role.key
    person = add_member(app, tenant, key)
    person.role = key
    raw = b"Last name,Phone,Score\nLamarr,+1 555 0100,5\n"
    with app.app_context(), tenant_session(tenant.ref) as s:
        access.bind(s, person.user_id, key)
        names = {t.name for t in mapping.targets(s, "contacts")}
        assert "last_name" in names and "phone" not in names and "custom.score" not in names
        batch = services.start(
            s, "contacts", "c.csv", raw, user_id=person.user_id, user_label=person.email
        )
        assert batch.mapping == ["last_name", None, None]
        with pytest.raises(ValidationFailed) as refused:
            services.set_mapping(s, batch, ["last_name", "phone", "custom.score"])
        assert set(refused.value.errors) == {"column-1", "column-2"}
    batch = run_import(app, tenant, "contacts", raw, user=person)
    with app.app_context(), tenant_session(tenant.ref) as s:
        lamarr = s.scalars(select(Contact).where(Contact.last_name == "Lamarr")).one()
        assert lamarr.phone is None and "score" not in (lamarr.custom or {})
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "contact.created")).one()
        assert entry.actor_id == str(person.user_id)
    # The job acts as the member: a mapping their role does not allow (queued by a session
    # without their rules here, as when the role changes after the import was queued) stops it.
    with app.app_context(), tenant_session(tenant.ref) as s:
        sneaky = services.start(
            s,
            "contacts",
            "c.csv",
            raw.replace(b"Lamarr", b"Sneaky"),
            user_id=person.user_id,
            user_label=person.email,
        )
        sneaky.mapping = ["last_name", "phone", None]
        services.confirm(s, sneaky)
        sneaky_id = sneaky.id
    with app.app_context(), tenant_session(tenant.ref) as s:
        sneaky = s.get(ImportBatch, sneaky_id)
        assert sneaky.status == "failed" and sneaky.created == 0
        assert sneaky.message == (
            "The import cannot go on: Your role may not import into this field; choose another."
        )
        assert s.scalars(select(Contact).where(Contact.last_name == "Sneaky")).first() is None


def test_a_read_only_member_cannot_import(app, tenants):
    a, _b = tenants
    person = add_member(app, a, "read_only")
    with app.app_context(), tenant_session(a.ref) as s:
        access.bind(s, person.user_id, "read_only")
        assert services.importable_types(s) == []
        with pytest.raises(PermissionDenied):
            services.start(
                s,
                "contacts",
                "c.csv",
                b"Last name\nX\n",
                user_id=person.user_id,
                user_label=person.email,
            )


def test_a_record_type_of_a_module_that_is_off_is_not_offered(app, tenants, new_tenant):
    tenant = new_tenant("No leads")
    _a, _b = tenants
    with app.app_context(), tenant_session(tenant.ref) as s:
        modules.switch(s, "leads", False)
    with app.app_context(), tenant_session(tenant.ref) as s:
        offered = [k.name for k in services.importable_types(s)]
        assert "leads" not in offered and "contacts" in offered
        with pytest.raises(NotFound):
            services.start(
                s,
                "leads",
                "l.csv",
                b"Last name\nX\n",
                user_id=tenant.owner_id,
                user_label=tenant.owner_email,
            )


def test_the_preview_job_checks_the_rows_in_chunks_and_keeps_only_its_answer(
    app, tenants, new_tenant, monkeypatch
):
    tenant = new_tenant("Preview job")
    _a, _b = tenants
    monkeypatch.setattr(jobs, "PREVIEW_CHUNK", 2)
    raw = b"Name,Website\nOne,\nTwo,not a website\nThree,\nFour,\nFive,five.example\n"
    watched = (Company, AuditEntry, SearchEntry)
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = services.start(
            s, "companies", "firms.csv", raw, user_id=tenant.owner_id, user_label="owner"
        )
        batch_id = batch.id
    before = {m: count(app, tenant, m) for m in watched}
    with app.app_context(), tenant_session(tenant.ref) as s:
        services.request_preview(s, s.get(ImportBatch, batch_id))  # runs after this commit
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = s.get(ImportBatch, batch_id)
        found = services.current_preview(batch)
        assert found["status"] == "done" and found["created"] == 4
        assert found["errors"] == [
            {"line": 3, "errors": {"website": ["Enter a web address such as https://example.com."]}}
        ]
        # A preview answers for the mapping it checked: another mapping has none yet.
        services.set_mapping(s, batch, ["name", None])
        assert services.current_preview(batch) is None
    assert {m: count(app, tenant, m) for m in watched} == before


# -- when a chunk keeps failing; the daily tidy-up ---------------------------------------------
def damage_row(app, tenant, batch_id, index: int) -> None:  # type: ignore[no-untyped-def]
    """Store one row as an object instead of a list of cells (no reader produces that): writing it
    raises KeyError, an error that is no row's fault and that retrying does not cure."""
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = s.get(ImportBatch, batch_id)
        rows = [list(row) for row in batch.rows]
        rows[index][1] = {"Name": "Broken"}
        batch.rows = rows


def outbox_row(app, tenant, event_key: str) -> OutboxEntry:  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as s:
        entry = s.scalars(select(OutboxEntry).where(OutboxEntry.event_key == event_key)).one()
        s.expunge(entry)
        return entry


def spend_retries(app, tenant, entry: OutboxEntry) -> None:  # type: ignore[no-untyped-def]
    """Bring the outbox row to its last attempt, as nine failed deliveries would."""
    with app.app_context(), tenant_session(tenant.ref) as s:
        s.get(OutboxEntry, entry.id).attempts = MAX_ATTEMPTS - 1


def test_a_chunk_that_keeps_failing_ends_the_import_keeping_the_rows_before_it(
    app, tenants, new_tenant, monkeypatch
):
    tenant = new_tenant("Stuck import")
    _a, b = tenants
    monkeypatch.setattr(jobs, "CHUNK", 2)
    raw = ("Name,City\n" + "".join(f"Firm {i},Lyon\n" for i in range(6))).encode()
    b_before = count(app, b, Company)
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = services.start(
            s, "companies", "firms.csv", raw, user_id=tenant.owner_id, user_label="owner"
        )
        batch_id = batch.id
    damage_row(app, tenant, batch_id, 3)  # line 5, in the second chunk (lines 4 and 5)
    with app.app_context(), tenant_session(tenant.ref) as s:
        services.confirm(s, s.get(ImportBatch, batch_id))  # runs inline after the commit

    # The second chunk failed and is left for a retry: the batch runs on, the first chunk stays.
    entry = outbox_row(app, tenant, f"import:{batch_id}:2")
    assert entry.done_at is None and entry.attempts == 1 and "KeyError" in entry.last_error
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = s.get(ImportBatch, batch_id)
        assert (batch.status, batch.position, batch.created, batch.message) == (RUNNING, 2, 2, None)
    with app.app_context(), pytest.raises(KeyError):  # a retry that fails again still raises
        perform(str(tenant.ref.id), jobs.run_import.job_name, str(entry.id))

    spend_retries(app, tenant, entry)
    with app.app_context():  # the last attempt ends the batch instead of raising
        assert perform(str(tenant.ref.id), jobs.run_import.job_name, str(entry.id)) == "done"
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = s.get(ImportBatch, batch_id)
        assert (batch.status, batch.position, batch.created) == (FAILED, 2, 2)
        assert batch.message == (
            "The import stopped at line 4 after an unexpected error; the rows before it were "
            "imported. Try again or contact support."
        )
        assert batch.finished_at is not None
        names = s.scalars(select(Company.name).where(Company.name.like("Firm %"))).all()
        assert sorted(names) == ["Firm 0", "Firm 1"]  # nothing of the failed chunk
        assert s.get(OutboxEntry, entry.id).done_at is not None
        later = s.scalars(select(OutboxEntry).where(OutboxEntry.event_key.like("import:%:4")))
        assert later.all() == []  # no further chunk is queued
    assert count(app, b, Company) == b_before


def test_a_preview_that_keeps_failing_says_so_and_can_be_asked_again(app, tenants, new_tenant):
    tenant = new_tenant("Stuck preview")
    _a, _b = tenants
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = services.start(
            s, "companies", "firms.csv", b"Name\nOne\nTwo\n", user_id=tenant.owner_id,
            user_label="owner",
        )  # fmt: skip
        batch_id = batch.id
    damage_row(app, tenant, batch_id, 1)
    with app.app_context(), tenant_session(tenant.ref) as s:
        services.request_preview(s, s.get(ImportBatch, batch_id))
    entry = outbox_row(app, tenant, f"import-preview:{batch_id}:1")
    assert entry.attempts == 1 and entry.done_at is None  # failed once; retried later
    with app.app_context(), tenant_session(tenant.ref) as s:
        assert s.get(ImportBatch, batch_id).preview["status"] == "queued"

    spend_retries(app, tenant, entry)
    with app.app_context():
        assert perform(str(tenant.ref.id), jobs.preview_import.job_name, str(entry.id)) == "done"
    with app.app_context(), tenant_session(tenant.ref) as s:
        batch = s.get(ImportBatch, batch_id)
        found = services.current_preview(batch)
        assert found["status"] == "failed" and found["message"] == services.PREVIEW_STOPPED
        assert batch.status == DRAFT  # nothing started: the member can preview again
        services.request_preview(s, batch)
        assert services.current_preview(batch)["round"] == 2


def _age(app, tenant, batch_id, **when: dt.timedelta) -> None:  # type: ignore[no-untyped-def]
    """Move the batch's timestamps back by the given amounts (updated_at is kept as given)."""
    now = dt.datetime.now(dt.UTC)
    with app.app_context(), tenant_session(tenant.ref) as s:
        s.execute(
            update(ImportBatch)
            .where(ImportBatch.id == batch_id)
            .values({name: now - ago for name, ago in when.items()})
        )


def test_the_daily_tidy_up_deletes_stale_drafts_forgets_old_files_and_ends_stalled_imports(
    app, tenants, new_tenant
):
    tenant = new_tenant("Tidy")
    _a, b = tenants
    raw = b"Name,Website\nGood,\nBad,not a website\n"

    def draft(where):  # type: ignore[no-untyped-def]
        with app.app_context(), tenant_session(where.ref) as s:
            return services.start(
                s, "companies", "firms.csv", raw, user_id=where.owner_id, user_label="owner"
            ).id

    old_draft, new_draft, b_old_draft = draft(tenant), draft(tenant), draft(b)
    _age(app, tenant, old_draft, created_at=dt.timedelta(days=8), updated_at=dt.timedelta(days=8))
    _age(app, b, b_old_draft, created_at=dt.timedelta(days=8), updated_at=dt.timedelta(days=8))
    # A draft started long ago but mapped yesterday is still being worked on.
    _age(app, tenant, new_draft, created_at=dt.timedelta(days=30), updated_at=dt.timedelta(days=1))
    old_done = run_import(app, tenant, "companies", raw).id
    _age(app, tenant, old_done, finished_at=dt.timedelta(days=91))
    new_done = run_import(app, tenant, "companies", raw).id
    _age(app, tenant, new_done, finished_at=dt.timedelta(days=89))
    stalled, recent = draft(tenant), draft(tenant)
    damage_row(app, tenant, stalled, 0)
    damage_row(app, tenant, recent, 0)
    for batch_id in (stalled, recent):
        with app.app_context(), tenant_session(tenant.ref) as s:
            services.confirm(s, s.get(ImportBatch, batch_id))  # its first chunk fails
    _age(app, tenant, stalled, updated_at=dt.timedelta(hours=7))
    _age(app, tenant, recent, updated_at=dt.timedelta(hours=5))
    stuck_preview, waiting_preview = draft(tenant), draft(tenant)
    for batch_id in (stuck_preview, waiting_preview):
        damage_row(app, tenant, batch_id, 0)
        with app.app_context(), tenant_session(tenant.ref) as s:
            services.request_preview(s, s.get(ImportBatch, batch_id))  # fails: left queued
    _age(app, tenant, stuck_preview, updated_at=dt.timedelta(hours=7))
    _age(app, tenant, waiting_preview, updated_at=dt.timedelta(hours=5))

    schedule = {entry.id: entry for entry in declared()}
    assert schedule["import-tidy"].job == jobs.sweep_imports.job_name
    assert schedule["import-tidy"].every == 24 * 3600
    with app.app_context():
        perform(None, jobs.sweep_imports.job_name)  # fans out a job per tenant (inline here)

    with app.app_context(), tenant_session(tenant.ref) as s:
        assert s.get(ImportBatch, old_draft) is None
        assert s.get(ImportBatch, new_draft).status == DRAFT
        done = s.get(ImportBatch, old_done)
        assert done.rows == [] and not done.rows_kept
        assert (done.status, done.created, done.failed) == (DONE, 1, 1)
        assert done.errors[0]["line"] == 3  # the history still says what went wrong
        assert s.get(ImportBatch, new_done).rows_kept
        ended = s.get(ImportBatch, stalled)
        assert ended.status == FAILED and ended.message.startswith(
            "The import stopped at line 2 after an unexpected error"
        )
        assert s.get(ImportBatch, recent).status == QUEUED  # its retries may still succeed
        stopped = s.get(ImportBatch, stuck_preview)
        assert stopped.status == DRAFT  # the member can preview again, or import
        assert stopped.preview["status"] == "failed"
        assert stopped.preview["message"] == services.PREVIEW_STOPPED
        assert s.get(ImportBatch, waiting_preview).preview["status"] == "queued"
    with app.app_context(), tenant_session(b.ref) as s:
        assert s.get(ImportBatch, b_old_draft) is None  # every tenant is tidied
    with app.app_context(), tenant_session(tenant.ref) as s:
        assert services.tidy(s) == services.Tidied()  # a second run finds nothing to do


def test_a_record_lookup_column_names_the_record(app, tenants, new_tenant):
    tenant = new_tenant("Lookup import")
    _a, _b = tenants
    partner = unique("Partner Works")
    with app.app_context(), tenant_session(tenant.ref) as s:
        fields.create_field(
            s, {"record_type": "contacts", "label": "Partner", "api_name": "partner",
                "type": "lookup", "target": "companies"},
        )  # fmt: skip
        partner_id = str(companies.create_company(s, {"name": partner}).id)
    raw = (
        f"First name,Last name,Partner\nAda,Lovelace,{partner.upper()}\n"
        f"Charles,Babbage,Nobody Ltd\nMary,Somerville,{partner_id}\n"
    ).encode()
    batch = run_import(app, tenant, "contacts", raw)
    assert (batch.created, batch.failed) == (2, 1)
    assert batch.errors == [
        {"line": 3, "errors": {"custom.partner": ["Choose a company from the list."]}}
    ]
    with app.app_context(), tenant_session(tenant.ref) as s:
        linked = {c.last_name: c.custom.get("partner") for c in s.scalars(select(Contact))}
    assert linked == {"Lovelace": partner_id, "Somerville": partner_id}

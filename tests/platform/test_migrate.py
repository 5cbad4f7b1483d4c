"""Migrations: the two trees, the fleet fan-out of a real tenant revision, status, authoring."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError

from rapport.platform import migrate
from rapport.platform.cli import main
from rapport.platform.db import db
from rapport.platform.migrate_authoring import history_diff
from rapport.platform.migrate_fleet import fleet_status, migrate_fleet
from rapport.platform.tenancy.models import Tenant, TenantRef
from rapport.platform.tenancy.provisioning import delete_tenant, provision_tenant
from rapport.platform.tenancy.scope import tenancy, tenant_session
from rapport.tenants.companies.models import Company

HEAD = "t0007"
BEFORE = "t0001"


@pytest.fixture()
def fleet(app, tenants) -> Iterator[list[TenantRef]]:
    """Four tenants of this test's own, removed afterwards so other tests never see them."""
    runtime = tenancy(app)
    token = secrets.token_hex(3)
    with app.app_context():
        refs = [
            provision_tenant(runtime, name=f"Fleet {i}", slug=f"fleet-{token}-{i}")
            for i in range(4)
        ]
    yield refs
    with app.app_context():
        for ref in refs:
            delete_tenant(runtime, ref.id)


def registry(app, ref: TenantRef) -> Tenant:
    with app.app_context():
        row = db.session.scalars(select(Tenant).where(Tenant.id == ref.id)).one()
        db.session.expunge(row)
        db.session.rollback()
    return row


def schema_version(app, ref: TenantRef) -> str:
    """The version recorded inside the tenant's own schema (not the registry's copy)."""
    runtime = tenancy(app)
    engine = runtime.owner_engine if runtime.is_postgres else runtime.tenant_engine(ref.schema_name)
    with engine.connect() as conn:
        return migrate.current_version(conn, ref.schema_name)


def add_company_with_domain(app, ref: TenantRef, domain: str) -> str | None:
    with app.app_context():
        with tenant_session(ref) as s:
            s.add(Company(name=f"Company at {domain}", domain=domain))
        with tenant_session(ref) as s:
            return s.scalars(select(Company.domain).where(Company.domain == domain)).one()


def owner_ddl(app, ref: TenantRef, statement: str) -> None:
    """Run DDL in a tenant's schema as the owner ({s} is the schema, quoted)."""
    runtime = tenancy(app)
    engine = runtime.owner_engine if runtime.is_postgres else runtime.tenant_engine(ref.schema_name)
    with engine.connect() as conn, conn.begin():
        conn.exec_driver_sql(statement.format(s=f'"{ref.schema_name}"'))


def break_tenant(app, ref: TenantRef) -> None:
    """Squat t0002's index name on another column, so that tenant's upgrade fails."""
    if tenancy(app).is_postgres:
        owner_ddl(app, ref, "CREATE INDEX ix_companies_domain ON {s}.companies (name)")
    else:
        owner_ddl(app, ref, "CREATE INDEX {s}.ix_companies_domain ON companies (name)")


def repair_tenant(app, ref: TenantRef) -> None:
    owner_ddl(app, ref, "DROP INDEX {s}.ix_companies_domain")


def downgrade(app, refs: list[TenantRef]) -> None:
    with app.app_context():
        for ref in refs:
            report = migrate_fleet(tenancy(), target=BEFORE, slug=ref.slug)
            assert report.ok, report.failed


# -- the trees -------------------------------------------------------------------------------------
def test_heads_are_the_shipped_revisions():
    assert migrate.tenant_head() == HEAD
    assert migrate.control_head() == "c0005"


@pytest.mark.parametrize("tree", migrate.TREES)
def test_history_replayed_from_base_matches_the_models(tree):
    diff = history_diff(tree)
    assert diff == [], (
        f"run `rapport db baseline --tree {tree}` (see rapport.platform.migrate): {diff}"
    )


def test_the_history_check_notices_a_missing_revision():
    diff = history_diff("tenant", target=BEFORE)
    added = {(d[0], d[3].name) for d in diff if isinstance(d, tuple) and d[0] == "add_column"}
    assert ("add_column", "domain") in added


def test_control_plane_upgrade_is_idempotent_and_versioned(app):
    with app.app_context():
        migrate.upgrade_control_plane(tenancy())
        migrate.upgrade_control_plane(tenancy())
        status = fleet_status(db.session)
        db.session.rollback()
    assert status.control == migrate.control_head()


def test_a_new_tenant_is_stamped_at_head_and_has_the_new_column(app, fleet):
    ref = fleet[0]
    assert schema_version(app, ref) == HEAD
    assert registry(app, ref).schema_version == HEAD
    assert add_company_with_domain(app, ref, "fresh.example") == "fresh.example"


# -- the fleet -------------------------------------------------------------------------------------
def test_downgrade_really_removes_the_column_and_its_index(app, fleet):
    ref = fleet[0]
    downgrade(app, [ref])
    assert schema_version(app, ref) == BEFORE
    assert registry(app, ref).schema_version == BEFORE
    with pytest.raises(DBAPIError):
        add_company_with_domain(app, ref, "gone.example")
    # The index name is free again: creating it by hand works.
    break_tenant(app, ref)
    repair_tenant(app, ref)


def test_fleet_upgrade_goes_on_past_a_broken_tenant_and_resumes(app, runner, fleet):
    behind, broken, at_head = fleet[:2], fleet[2], fleet[3]
    downgrade(app, [*behind, broken])
    break_tenant(app, broken)

    result = runner.invoke(main, ["migrate", "--workers", "2"])
    assert result.exit_code == 1, result.output
    assert broken.slug in result.stderr
    assert "ix_companies_domain" in result.stderr
    for ref in behind:
        assert schema_version(app, ref) == HEAD
        row = registry(app, ref)
        assert (row.schema_version, row.migration_error) == (HEAD, None)
        assert row.migrated_at is not None
        assert add_company_with_domain(app, ref, f"{ref.slug}.example") == f"{ref.slug}.example"
    assert schema_version(app, at_head) == HEAD
    assert registry(app, at_head).migrated_at is None  # it was at head: not touched
    failed = registry(app, broken)
    assert failed.schema_version == BEFORE and "ix_companies_domain" in failed.migration_error
    assert schema_version(app, broken) == BEFORE  # its transaction rolled back whole

    status = json.loads(runner.invoke(main, ["migrate", "status", "--json"]).output)
    assert status["head"] == HEAD and status["versions"][BEFORE] >= 1 and status["behind"] >= 1
    failing = {row["slug"]: row for row in status["failing"]}
    assert failing[broken.slug]["version"] == BEFORE
    assert "ix_companies_domain" in failing[broken.slug]["error"]
    text_status = runner.invoke(main, ["migrate", "status"]).output
    assert broken.slug in text_status and "behind" in text_status

    repair_tenant(app, broken)
    with app.app_context():
        report = migrate_fleet(tenancy(), workers=2)
    assert [o.slug for o in report.outcomes] == [broken.slug]  # only the one left behind
    assert report.ok
    row = registry(app, broken)
    assert (row.schema_version, row.migration_error) == (HEAD, None)
    assert add_company_with_domain(app, broken, "repaired.example") == "repaired.example"

    result = runner.invoke(main, ["migrate"])
    assert result.exit_code == 0, result.output
    assert f"Every tenant is at {HEAD}" in result.output
    status = json.loads(runner.invoke(main, ["migrate", "status", "--json"]).output)
    assert broken.slug not in {row["slug"] for row in status["failing"]}


def test_migrate_one_tenant_by_slug(app, runner, fleet):
    one, other = fleet[0], fleet[1]
    result = runner.invoke(main, ["migrate", "--tenant", one.slug, "--to", BEFORE])
    assert result.exit_code == 0, result.output
    assert (schema_version(app, one), schema_version(app, other)) == (BEFORE, HEAD)

    result = runner.invoke(main, ["migrate", "--tenant", one.slug])
    assert result.exit_code == 0, result.output
    assert f"1 of 1 tenants now at {HEAD}" in result.output
    assert schema_version(app, one) == HEAD
    assert registry(app, one).schema_version == HEAD

    result = runner.invoke(main, ["migrate", "--tenant", "no-such-workspace"])
    assert result.exit_code != 0 and "no-such-workspace" in result.output


def test_a_tenant_whose_table_is_locked_fails_after_the_lock_timeout(app, runner, fleet):
    runtime = tenancy(app)
    if not runtime.is_postgres:
        pytest.skip("lock_timeout is a PostgreSQL setting; SQLite waits on busy_timeout per file")
    ref = fleet[0]
    downgrade(app, [ref])
    engine = create_engine(runtime.settings.database_url)
    try:
        with engine.connect() as blocker, blocker.begin():
            blocker.execute(text(f'LOCK TABLE "{ref.schema_name}".companies IN ACCESS SHARE MODE'))
            result = runner.invoke(main, ["migrate", "--tenant", ref.slug, "--lock-timeout", "0.2"])
    finally:
        engine.dispose()
    assert result.exit_code == 1
    assert "lock timeout" in registry(app, ref).migration_error
    assert runner.invoke(main, ["migrate", "--tenant", ref.slug]).exit_code == 0
    assert registry(app, ref).migration_error is None


def test_db_check_says_history_matches_the_models():
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["db", "check"])
    assert result.exit_code == 0, result.output
    assert "History matches the models." in result.output

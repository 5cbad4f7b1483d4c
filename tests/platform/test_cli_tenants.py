"""``rapport tenants``: what an operator sees when managing workspaces from the shell."""

from __future__ import annotations

import json
import secrets

from sqlalchemy import func, select, text

from rapport.platform.audit.models import PlatformAuditEntry
from rapport.platform.cli import main
from rapport.platform.db import db
from rapport.platform.identity import services as identity
from rapport.platform.identity.models import Membership, User
from rapport.platform.tenancy import roles
from rapport.platform.tenancy.engines import tenant_sqlite_path
from rapport.platform.tenancy.models import Tenant
from rapport.platform.tenancy.scope import tenancy


def rapport(runner, *args: str, input: str | None = None):  # noqa: A002
    return runner.invoke(main, list(args), input=input)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def registry_row(app, slug: str) -> Tenant | None:
    with app.app_context():
        tenant = db.session.scalars(select(Tenant).where(Tenant.slug == slug)).first()
        if tenant is not None:
            db.session.expunge(tenant)
        return tenant


def footprint(app) -> tuple[int, int, int]:
    """Registry rows, users, and tenant schemas (PostgreSQL) or files (SQLite)."""
    runtime = tenancy(app)
    with app.app_context():
        tenants = db.session.scalar(select(func.count()).select_from(Tenant))
        users = db.session.scalar(select(func.count()).select_from(User))
    if runtime.is_postgres:
        with runtime.owner_engine.connect() as conn:
            stores = conn.execute(
                text("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\\_%'")
            ).scalar()
    else:
        stores = len(list(runtime.settings.tenant_dir.glob("t_*.db")))
    return tenants, users, stores


def test_create_with_a_new_owner_prints_the_workspace_and_the_owner_can_sign_in(
    app, runner, tenants
):
    slug = unique("initech")
    email = f"boss@{slug}.example.com"
    result = rapport(
        runner, "tenants", "create", "--name", "Initech", "--slug", slug,
        "--owner-email", email, "--owner-password", "a long enough passphrase 42",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    tenant = registry_row(app, slug)
    assert tenant is not None and tenant.name == "Initech" and tenant.plan == "trial"
    base_url = app.config["RAPPORT"].base_url
    assert slug in result.output
    assert str(tenant.id) in result.output
    assert tenant.schema_name in result.output
    assert f"{base_url}/{slug}/" in result.output
    with app.app_context():
        user = identity.authenticate(email, "a long enough passphrase 42")
        assert user is not None
        membership = identity.membership(user.id, tenant.id)
        assert membership is not None and membership.role == "owner"


def test_create_without_a_password_says_the_owner_needs_a_reset_link(app, runner, tenants):
    slug = unique("hooli")
    email = f"gavin@{slug}.example.com"
    result = rapport(
        runner, "tenants", "create", "--name", "Hooli", "--slug", slug, "--owner-email", email,
        "--plan", "business",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "reset link" in result.output
    assert registry_row(app, slug).plan == "business"
    with app.app_context():
        user = identity.find_user(db.session, email)
        assert user is not None and user.password_hash is None


def test_create_for_an_existing_user_makes_them_owner_of_a_second_workspace(app, runner, tenants):
    first, second = unique("umbrella"), unique("umbrella-two")
    email = f"alice@{first}.example.com"
    password = "a long enough passphrase 43"
    result = rapport(
        runner, "tenants", "create", "--name", "Umbrella", "--slug", first,
        "--owner-email", email, "--owner-password", password,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = rapport(
        runner, "tenants", "create", "--name", "Umbrella Two", "--slug", second,
        "--owner-email", email.upper(), "--owner-password", "something else entirely 44",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "existing account" in result.output
    assert "password was left unchanged" in result.output
    assert "reset link" not in result.output
    with app.app_context():
        user = identity.find_user(db.session, email)
        for slug in (first, second):
            tenant = registry_row(app, slug)
            owners = db.session.scalars(
                select(Membership.user_id).where(
                    Membership.tenant_id == tenant.id, Membership.role == "owner"
                )
            ).all()
            assert owners == [user.id]
        # The existing password still works: nothing about the account changed.
        assert identity.authenticate(email, password) is not None
        assert identity.authenticate(email, "something else entirely 44") is None


def test_create_refuses_invalid_input_field_by_field_and_creates_nothing(app, runner, tenants):
    before = footprint(app)
    result = rapport(
        runner, "tenants", "create", "--name", "  ", "--slug", "Bad Slug!",
        "--owner-email", "not-an-email", "--plan", "Gold Plan",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    for field in ("name", "slug", "owner-email", "plan"):
        assert any(line.startswith(f"{field}: ") for line in lines), (field, result.output)
    assert "Nothing was created." in result.output
    assert footprint(app) == before


def test_create_refuses_a_taken_slug_and_a_weak_password(app, runner, tenant_a):
    before = footprint(app)
    result = rapport(
        runner, "tenants", "create", "--name", "Copycat", "--slug", tenant_a.slug,
        "--owner-email", f"cat@{unique('copy')}.example.com", "--owner-password", "short",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "slug: That workspace address is taken; choose another." in result.output
    assert "owner-password: Use at least 10 characters." in result.output
    assert footprint(app) == before


def test_list_shows_every_workspace_as_a_table_and_as_json(app, runner, tenants):
    a, b = tenants
    result = rapport(runner, "tenants", "list")
    assert result.exit_code == 0, result.output
    assert a.slug in result.output and b.slug in result.output
    assert "schema version" in result.output

    result = rapport(runner, "tenants", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["slug"]: row for row in json.loads(result.output)}
    assert rows[a.slug]["name"] == "Acme" and rows[b.slug]["name"] == "Globex"
    assert rows[a.slug]["state"] == "active"
    assert rows[a.slug]["plan"] == "trial"
    assert rows[a.slug]["id"] == str(a.ref.id)
    assert set(rows[a.slug]) >= {"slug", "name", "state", "plan", "schema_version", "created_at"}


def test_show_gives_members_owners_and_migration_state(app, runner, tenants):
    a, _ = tenants
    result = rapport(runner, "tenants", "show", a.slug, "--json")
    assert result.exit_code == 0, result.output
    details = json.loads(result.output)
    assert details["slug"] == a.slug
    assert details["schema"] == a.ref.schema_name
    assert details["members"] >= 1
    assert a.owner_email in details["owners"]
    assert details["migration_error"] is None

    result = rapport(runner, "tenants", "show", a.slug)
    assert result.exit_code == 0, result.output
    assert a.owner_email in result.output and a.ref.schema_name in result.output

    result = rapport(runner, "tenants", "show", "no-such-workspace")
    assert result.exit_code == 1
    assert "No workspace has the address 'no-such-workspace'" in result.output


def test_delete_asks_for_the_slug_and_keeps_the_workspace_when_it_does_not_match(
    app, runner, tenants
):
    slug = unique("keepme")
    assert rapport(
        runner, "tenants", "create", "--name", "Keep Me", "--slug", slug,
        "--owner-email", f"o@{slug}.example.com",
    ).exit_code == 0  # fmt: skip
    result = rapport(runner, "tenants", "delete", slug, input="something-else\n")
    assert result.exit_code == 1
    assert "nothing was deleted" in result.output
    assert registry_row(app, slug) is not None


def test_delete_removes_the_schema_role_and_row_and_audits_it(app, runner, tenants, backend):
    a, b = tenants
    slug = unique("doomed")
    assert rapport(
        runner, "tenants", "create", "--name", "Doomed", "--slug", slug,
        "--owner-email", f"o@{slug}.example.com",
    ).exit_code == 0  # fmt: skip
    tenant = registry_row(app, slug)
    runtime = tenancy(app)
    if backend == "sqlite":
        assert tenant_sqlite_path(runtime.settings, tenant.schema_name).exists()

    result = rapport(runner, "tenants", "delete", slug, input=f"{slug}\n")
    assert result.exit_code == 0, result.output
    assert registry_row(app, slug) is None
    if backend == "postgres":
        with runtime.owner_engine.connect() as conn:
            schema = conn.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": tenant.schema_name}
            ).first()
            role = conn.execute(
                text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                {"r": roles.tenant_role_name(runtime.settings, tenant.schema_name)},
            ).first()
        assert schema is None and role is None
    else:
        assert not tenant_sqlite_path(runtime.settings, tenant.schema_name).exists()
    with app.app_context():
        entries = db.session.scalars(
            select(PlatformAuditEntry).where(
                PlatformAuditEntry.tenant_id == tenant.id,
                PlatformAuditEntry.action == "tenant.deleted",
            )
        ).all()
        assert len(entries) == 1
        assert entries[0].changes["slug"] == [slug, None]
        assert entries[0].actor_label.startswith("rapport CLI")
        members = db.session.scalar(
            select(func.count()).select_from(Membership).where(Membership.tenant_id == tenant.id)
        )
        assert members == 0
    # The other workspaces are untouched.
    listed = {
        row["slug"] for row in json.loads(rapport(runner, "tenants", "list", "--json").output)
    }
    assert {a.slug, b.slug} <= listed and slug not in listed


def test_delete_with_yes_does_not_ask(app, runner, tenants):
    slug = unique("quick")
    assert rapport(
        runner, "tenants", "create", "--name", "Quick", "--slug", slug,
        "--owner-email", f"o@{slug}.example.com",
    ).exit_code == 0  # fmt: skip
    result = rapport(runner, "tenants", "delete", slug, "--yes")
    assert result.exit_code == 0, result.output
    assert "Type the workspace address" not in result.output
    assert registry_row(app, slug) is None

"""Provisioning: a workspace appears whole, or not at all."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import create_engine, func, select, text

from rapport.platform.db import db
from rapport.platform.tenancy import roles
from rapport.platform.tenancy.engines import tenant_sqlite_path
from rapport.platform.tenancy.models import Tenant
from rapport.platform.tenancy.provisioning import SlugTaken, provision_tenant
from rapport.platform.tenancy.scope import tenancy, tenant_session
from rapport.platform.tenancy.slugs import SlugError, suggest_slug, validate_slug
from rapport.tenants.companies.models import Company


class Boom(RuntimeError):
    pass


def _traces(app, schema: str) -> dict[str, bool]:
    """What a tenant leaves behind: registry row, schema, role (PostgreSQL) or file (SQLite)."""
    runtime = tenancy(app)
    with app.app_context():
        row = db.session.scalar(
            select(func.count()).select_from(Tenant).where(Tenant.schema_name == schema)
        )
        db.session.rollback()
    found = {"registry": bool(row)}
    if runtime.is_postgres:
        engine = create_engine(runtime.settings.database_url)
        with engine.connect() as conn:
            found["schema"] = bool(
                conn.execute(
                    text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
                ).first()
            )
            found["role"] = bool(
                conn.execute(
                    text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                    {"r": roles.tenant_role_name(runtime.settings, schema)},
                ).first()
            )
        engine.dispose()
    else:
        found["file"] = tenant_sqlite_path(runtime.settings, schema).exists()
    return found


def test_new_tenant_is_ready_with_tables_audit_and_version(app, tenants):
    slug = f"ready-{secrets.token_hex(3)}"
    with app.app_context():
        ref = provision_tenant(tenancy(), name="Ready Ltd", slug=slug)
        with tenant_session(ref) as s:
            s.add(Company(name="First customer"))
        with tenant_session(ref) as s:
            assert s.scalars(select(Company.name)).all() == ["First customer"]
        tenant = db.session.scalars(select(Tenant).where(Tenant.slug == slug)).one()
        assert tenant.schema_version and tenant.schema_name == ref.schema_name
    assert all(_traces(app, ref.schema_name).values())


def test_failure_during_provisioning_leaves_nothing_behind(app, tenants):
    slug = f"doomed-{secrets.token_hex(3)}"
    captured = {}

    def explode(session, ref):  # type: ignore[no-untyped-def]
        captured["schema"] = ref.schema_name
        session.add(Company(name="half-made"))
        session.flush()
        raise Boom("seed failed")

    with app.app_context(), pytest.raises(Boom):
        provision_tenant(tenancy(), name="Doomed", slug=slug, tenant_step=explode)
    assert not any(_traces(app, captured["schema"]).values())


def test_failure_in_the_control_plane_step_removes_the_tenant_schema(app, tenants):
    slug = f"doomed-{secrets.token_hex(3)}"
    captured = {}

    def explode(session, tenant):  # type: ignore[no-untyped-def]
        captured["schema"] = tenant.schema_name
        raise Boom("registry step failed")

    with app.app_context(), pytest.raises(Boom):
        provision_tenant(tenancy(), name="Doomed", slug=slug, control_step=explode)
    assert not any(_traces(app, captured["schema"]).values())


def test_taken_slug_is_refused_and_creates_nothing(app, tenant_a):
    before = _count_tenants(app)
    with app.app_context(), pytest.raises(SlugTaken):
        provision_tenant(tenancy(), name="Copycat", slug=tenant_a.slug)
    assert _count_tenants(app) == before


def _count_tenants(app) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(Tenant))
        db.session.rollback()
        return n


@pytest.mark.parametrize(
    "slug", ["signup", "login", "api", "provider", "static", "healthz", "settings"]
)
def test_reserved_slugs_are_refused(slug):
    with pytest.raises(SlugError, match="reserved"):
        validate_slug(slug)


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("", "Choose"),
        ("ab", "at least 3"),
        ("a" * 41, "at most 40"),
        ("Acme", "lowercase"),
        ("-acme", "lowercase"),
        ("acme-", "lowercase"),
        ("ac--me", "two hyphens"),
        ("ac me", "lowercase"),
    ],
)
def test_malformed_slugs_are_refused_with_a_reason(slug, reason):
    with pytest.raises(SlugError, match=reason):
        validate_slug(slug)


def test_slug_suggestion_from_company_name():
    assert suggest_slug("Café Müller & Söhne GmbH") == "cafe-muller-sohne-gmbh"
    assert suggest_slug("北京科技") == ""

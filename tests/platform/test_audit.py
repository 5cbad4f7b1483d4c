"""The audit trail: one entry per change, in its transaction; tamper-evident, append-only."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.exc import DBAPIError

from rapport.platform.audit import chain as audit
from rapport.platform.audit.context import Actor, set_actor
from rapport.platform.audit.models import AuditEntry, PlatformAuditEntry
from rapport.platform.cli import main
from rapport.platform.db import db
from rapport.platform.tenancy import roles
from rapport.platform.tenancy.engines import tenant_sqlite_path
from rapport.platform.tenancy.provisioning import delete_tenant
from rapport.platform.tenancy.scope import tenancy, tenant_session
from rapport.tenants.companies import services as companies
from rapport.tenants.companies.models import Company
from tests.conftest import make_tenant


def add_company(app, ref, name: str) -> uuid.UUID:
    with app.app_context(), tenant_session(ref) as s:
        return companies.create_company(s, {"name": name, "city": "Springfield"}).id


def entries(app, ref) -> list[AuditEntry]:
    with app.app_context(), tenant_session(ref) as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        s.expunge_all()
        return list(rows)


def verify_rows(output: str) -> dict[str, str]:
    """Map each chain named in ``rapport audit verify``'s table to its row."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 3 and cells[1].isdigit():
            rows[cells[0]] = line
    return rows


def test_a_service_change_writes_exactly_one_entry_with_actor_target_and_diff(app, tenants):
    a, b = tenants
    company_id = add_company(app, a.ref, "Audited Ltd")
    before_a, before_b = len(entries(app, a.ref)), len(entries(app, b.ref))
    with app.app_context():
        set_actor(Actor("user", str(a.owner_id), a.owner_email))
        with tenant_session(a.ref) as s:
            companies.update_company(
                s, company_id, {"name": "Audited Holdings", "city": "Springfield"}, partial=True
            )

    after = entries(app, a.ref)
    assert len(after) == before_a + 1
    entry = after[-1]
    assert entry.action == "company.updated"
    assert (entry.actor_type, entry.actor_id, entry.actor_label) == (
        "user",
        str(a.owner_id),
        a.owner_email,
    )
    assert (entry.target_type, entry.target_id) == ("company", str(company_id))
    # Only what changed, as [before, after]; the unchanged city is not in the diff.
    assert entry.changes == {"name": ["Audited Ltd", "Audited Holdings"]}
    assert entry.seq == after[-2].seq + 1 and entry.prev_hash == after[-2].hash
    # The other tenant's chain did not move.
    assert len(entries(app, b.ref)) == before_b


def test_creating_a_workspace_writes_one_control_plane_entry(app):
    victim = make_tenant(app, "Initrode")
    with app.app_context():
        rows = db.session.scalars(
            select(PlatformAuditEntry).where(PlatformAuditEntry.tenant_id == victim.ref.id)
        ).all()
    assert len(rows) == 1
    (entry,) = rows
    assert entry.action == "tenant.created"
    assert (entry.actor_type, entry.actor_id) == ("user", str(victim.owner_id))
    assert (entry.target_type, entry.target_id) == ("tenant", str(victim.ref.id))
    assert entry.changes == {"slug": [None, victim.slug], "owner": [None, victim.owner_email]}


def test_a_rolled_back_change_leaves_no_entry(app, tenants):
    a, _ = tenants
    company_id = add_company(app, a.ref, "Rollback Inc")
    before = entries(app, a.ref)
    with app.app_context():
        with pytest.raises(RuntimeError, match="boom"), tenant_session(a.ref) as s:
            companies.update_company(s, company_id, {"name": "Never Saved"}, partial=True)
            raise RuntimeError("boom")
        after = entries(app, a.ref)
        assert [e.id for e in after] == [e.id for e in before]
        with tenant_session(a.ref) as s:
            assert s.get(Company, company_id).name == "Rollback Inc"
            companies.update_company(s, company_id, {"name": "Saved"}, partial=True)
        # The next entry takes the next number: the rolled-back one left no gap in the chain.
        assert entries(app, a.ref)[-1].seq == before[-1].seq + 1
        with tenant_session(a.ref) as s:
            assert audit.verify(s) == (len(before) + 1, None)


def test_audit_verify_passes_on_intact_chains(app, runner, tenants):
    a, b = tenants
    add_company(app, a.ref, "Intact A")
    add_company(app, b.ref, "Intact B")
    result = runner.invoke(main, ["audit", "verify", "--tenant", a.slug])
    assert result.exit_code == 0, result.output
    rows = verify_rows(result.output)
    assert set(rows) == {"control plane", a.slug}
    assert all(row.rstrip(" │").endswith("OK") for row in rows.values()), result.output
    assert "All chains verified." in result.output

    result = runner.invoke(main, ["audit", "verify"])
    rows = verify_rows(result.output)
    for name in ("control plane", a.slug, b.slug):
        assert rows[name].rstrip(" │").endswith("OK"), result.output
    assert int(rows[a.slug].split("│")[2]) == len(entries(app, a.ref))


def test_audit_verify_on_an_unknown_workspace_says_so(app, runner):
    result = runner.invoke(main, ["audit", "verify", "--tenant", "nobody-here"])
    assert result.exit_code == 1
    assert "No workspace has the address 'nobody-here'" in result.output


# -- tampering ------------------------------------------------------------------------------------
def owner_engine(app):
    """A superuser (PostgreSQL) connection: the one thing that can still rewrite history."""
    return create_engine(app.config["RAPPORT"].database_url)


def tamper_tenant(app, ref, seq: int, how: str) -> None:
    settings = app.config["RAPPORT"]
    if settings.is_postgres:
        engine = owner_engine(app)
        table = f'"{ref.schema_name}".audit_entries'
        with engine.begin() as conn:
            if how == "change":
                conn.execute(
                    text(f"UPDATE {table} SET changes = CAST(:c AS json) WHERE seq = :seq"),
                    {"c": '{"name": [null, "Forged"]}', "seq": seq},
                )
            else:
                conn.execute(text(f"DELETE FROM {table} WHERE seq = :seq"), {"seq": seq})
        engine.dispose()
        return
    conn = sqlite3.connect(tenant_sqlite_path(settings, ref.schema_name))
    try:
        conn.execute("DROP TRIGGER audit_entries_no_update")
        conn.execute("DROP TRIGGER audit_entries_no_delete")
        if how == "change":
            conn.execute(
                "UPDATE audit_entries SET changes = ? WHERE seq = ?",
                ('{"name": [null, "Forged"]}', seq),
            )
        else:
            conn.execute("DELETE FROM audit_entries WHERE seq = ?", (seq,))
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize("how", ["change", "delete"])
def test_audit_verify_names_the_tampered_entry_and_fails(app, runner, tenants, how):
    a, _ = tenants
    victim = make_tenant(app, "Victim")
    try:
        for i in range(3):
            add_company(app, victim.ref, f"Victim Co {i}")
        chain_length = len(entries(app, victim.ref))
        target = entries(app, victim.ref)[2]
        assert runner.invoke(main, ["audit", "verify", "--tenant", victim.slug]).exit_code == 0

        tamper_tenant(app, victim.ref, target.seq, how)

        result = runner.invoke(main, ["audit", "verify", "--tenant", victim.slug])
        assert result.exit_code == 1, result.output
        row = verify_rows(result.output)[victim.slug]
        if how == "change":
            assert f"BROKEN at seq {target.seq} (entry {target.id})" in row
            assert "changed after it was written" in row
        else:
            # The entry after the hole is the first that no longer fits, and it names the hole.
            assert f"BROKEN at seq {target.seq + 1}" in row
            assert f"entry {target.seq} is missing" in row
        assert int(row.split("│")[2]) <= chain_length
        assert "1 chain(s) failed verification." in result.output

        # Verifying everything fails too, and still vouches for the other tenant's chain.
        result = runner.invoke(main, ["audit", "verify"])
        assert result.exit_code == 1
        rows = verify_rows(result.output)
        assert "BROKEN" in rows[victim.slug]
        assert rows[a.slug].rstrip(" │").endswith("OK")
        assert rows["control plane"].rstrip(" │").endswith("OK")
        assert runner.invoke(main, ["audit", "verify", "--tenant", a.slug]).exit_code == 0
    finally:
        with app.app_context():
            delete_tenant(tenancy(app), victim.ref.id)


def test_audit_verify_catches_a_changed_control_plane_entry(app, runner, tenants):
    a, _ = tenants
    with app.app_context():
        entry = db.session.scalars(
            select(PlatformAuditEntry)
            .where(PlatformAuditEntry.tenant_id == a.ref.id)
            .order_by(PlatformAuditEntry.seq)
        ).first()
        seq, entry_id, note = entry.seq, entry.id, entry.note
    settings = app.config["RAPPORT"]
    if settings.is_postgres:
        engine = owner_engine(app)
        rewrite = text("UPDATE platform.platform_audit_entries SET note = :n WHERE seq = :seq")
        with engine.begin() as conn:
            conn.execute(rewrite, {"n": "forged", "seq": seq})
        try:
            result = runner.invoke(main, ["audit", "verify", "--tenant", a.slug])
        finally:
            with engine.begin() as conn:
                conn.execute(rewrite, {"n": note, "seq": seq})
            engine.dispose()
    else:
        conn = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))
        (trigger,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
            ("platform_audit_entries_no_update",),
        ).fetchone()
        rewrite = "UPDATE platform_audit_entries SET note = ? WHERE seq = ?"
        try:
            conn.execute("DROP TRIGGER platform_audit_entries_no_update")
            conn.execute(rewrite, ("forged", seq))
            conn.commit()
            result = runner.invoke(main, ["audit", "verify", "--tenant", a.slug])
        finally:
            conn.execute(rewrite, (note, seq))
            conn.execute(trigger)
            conn.commit()
            conn.close()
    assert result.exit_code == 1, result.output
    rows = verify_rows(result.output)
    assert f"BROKEN at seq {seq} (entry {entry_id})" in rows["control plane"]
    assert rows[a.slug].rstrip(" │").endswith("OK")
    # Put back, the chain verifies again.
    assert runner.invoke(main, ["audit", "verify", "--tenant", a.slug]).exit_code == 0


# -- append-only ----------------------------------------------------------------------------------
@pytest.mark.parametrize("statement", ["update", "delete"])
def test_the_tenant_session_cannot_rewrite_its_audit_log(app, tenants, backend, statement):
    a, _ = tenants
    before = entries(app, a.ref)
    stmt = (
        update(AuditEntry).where(AuditEntry.seq == 1).values(note="rewritten")
        if statement == "update"
        else delete(AuditEntry).where(AuditEntry.seq == 1)
    )
    with app.app_context(), pytest.raises(DBAPIError) as refused, tenant_session(a.ref) as s:
        s.execute(stmt)
    expected = (
        "permission denied for table audit_entries" if backend == "postgres" else "append-only"
    )
    assert expected in str(refused.value)
    assert [(e.id, e.note) for e in entries(app, a.ref)] == [(e.id, e.note) for e in before]


def test_the_tenant_role_cannot_update_delete_or_truncate_its_audit_log(app, tenants, backend):
    if backend != "postgres":
        pytest.skip("roles and privileges exist on PostgreSQL; SQLite is covered by its triggers")
    a, _ = tenants
    runtime = tenancy(app)
    role = roles.tenant_role_name(runtime.settings, a.ref.schema_name)
    table = f'"{a.ref.schema_name}".audit_entries'
    engine = create_engine(runtime.app_url)
    try:
        for sql in (
            f"UPDATE {table} SET note = 'rewritten'",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
        ):
            with engine.connect() as conn:
                # Exactly what a tenant session does at the start of each transaction.
                conn.execute(text("SELECT set_config('role', :r, true)"), {"r": role})
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() >= 2
                with pytest.raises(DBAPIError, match="permission denied for table audit_entries"):
                    conn.execute(text(sql))
                conn.rollback()
    finally:
        engine.dispose()
    assert len(entries(app, a.ref)) >= 2


def test_sqlite_triggers_refuse_to_rewrite_the_audit_log(app, tenants, backend):
    if backend != "sqlite":
        pytest.skip("SQLite has no roles; its triggers keep the log append-only")
    a, _ = tenants
    conn = sqlite3.connect(tenant_sqlite_path(app.config["RAPPORT"], a.ref.schema_name))
    try:
        for sql in ("UPDATE audit_entries SET note = 'rewritten'", "DELETE FROM audit_entries"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
            conn.rollback()
    finally:
        conn.close()
    assert all(e.note != "rewritten" for e in entries(app, a.ref))

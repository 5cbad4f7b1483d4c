"""``rapport tenants``: create, list, show and delete workspaces from the operator's shell."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select

from rapport.platform.audit.context import Actor

PLAN_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

# Exit status for input the command refused (click uses 2 for usage errors too).
EXIT_INVALID = 2


@click.group("tenants")
def tenants() -> None:
    """Manage workspaces (tenants)."""


# -- create -------------------------------------------------------------------------------------
@tenants.command("create")
@click.option("--name", required=True, help="The company's name, shown in the workspace.")
@click.option("--slug", required=True, help="The workspace address: /<slug>/.")
@click.option("--owner-email", required=True, help="The owner; an existing account is reused.")
@click.option("--owner-name", default=None, help="The new owner's display name.")
@click.option(
    "--owner-password",
    default=None,
    help="Password for a new owner. Without it the owner must set one through a reset link.",
)
@click.option("--plan", default="trial", show_default=True, help="The plan to start on.")
@with_appcontext
def create_command(
    name: str,
    slug: str,
    owner_email: str,
    owner_name: str | None,
    owner_password: str | None,
    plan: str,
) -> None:
    """Provision a workspace with its owner."""
    from rapport.platform.db import db
    from rapport.platform.errors import ValidationFailed
    from rapport.platform.identity import services as identity

    name, slug, plan = name.strip(), slug.strip().lower(), plan.strip()
    errors, email, existing = _validate_create(name, slug, owner_email, owner_password, plan)
    if errors:
        _fail_validation(errors)
    try:
        result = identity.create_workspace(
            company_name=name, slug=slug, owner_email=email, owner_name=owner_name,
            owner_password=None if existing else owner_password, plan=plan, actor=_cli_actor(),
        )  # fmt: skip
    except ValidationFailed as exc:  # a concurrent create took the slug meanwhile
        _fail_validation(exc.errors)
    db.session.rollback()
    ref = result.tenant
    settings = current_app.config["RAPPORT"]
    out = _console()
    out.print(f"[green]Created workspace[/green] {escape(ref.name)}")
    grid = _pairs(
        ("slug", ref.slug),
        ("id", str(ref.id)),
        ("schema", ref.schema_name),
        ("url", settings.base_url.rstrip("/") + "/" + ref.slug + "/"),
        ("plan", plan),
        ("owner", email + (" (existing account)" if not result.new_user else " (new account)")),
    )
    out.print(grid)
    if result.new_user and not owner_password:
        out.print(
            f"{escape(email)} has no password yet: they must set one through a password reset "
            "link before they can sign in."
        )
    elif existing and owner_password:
        out.print(f"{escape(email)} already had an account; its password was left unchanged.")


def _validate_create(
    name: str, slug: str, owner_email: str, owner_password: str | None, plan: str
) -> tuple[dict[str, list[str]], str, bool]:
    """Check everything before provisioning, so a refusal creates nothing."""
    from rapport.platform.db import db
    from rapport.platform.identity import services as identity
    from rapport.platform.identity.passwords import password_problems

    errors: dict[str, list[str]] = {}
    identity.validate_workspace(errors, name, slug, name_field="name")
    email, existing = "", False
    try:
        email = identity.normalize_email(owner_email)
    except ValueError as exc:
        errors.setdefault("owner_email", []).append(str(exc))
    else:
        existing = identity.find_user(db.session, email) is not None
    if owner_password is not None and not existing:
        for problem in password_problems(owner_password, email=email):
            errors.setdefault("owner_password", []).append(problem)
    if not PLAN_RE.match(plan):
        errors.setdefault("plan", []).append(
            "Use up to 40 lowercase letters, digits, hyphens or underscores."
        )
    db.session.rollback()
    return errors, email, existing


def _fail_validation(errors: dict[str, list[str]]) -> None:
    for field, messages in errors.items():
        for message in messages:
            click.echo(f"{field.replace('_', '-')}: {message}", err=True)
    click.echo("Nothing was created.", err=True)
    raise click.exceptions.Exit(EXIT_INVALID)


# -- list and show ------------------------------------------------------------------------------
@tenants.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_appcontext
def list_command(as_json: bool) -> None:
    """List every workspace."""
    from rapport.platform.db import db
    from rapport.platform.tenancy.models import Tenant

    stmt = select(Tenant).order_by(Tenant.created_at, Tenant.slug)
    rows = [_summary(t) for t in db.session.scalars(stmt)]
    db.session.rollback()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} workspace(s)")
    for column in ("slug", "name", "state", "plan", "schema version", "created"):
        table.add_column(column, no_wrap=column != "name", overflow="fold")
    for row in rows:
        table.add_row(
            row["slug"], escape(row["name"]), row["state"], row["plan"],
            row["schema_version"] or "-", _when(row["created_at"]),
        )  # fmt: skip
    _console().print(table)


@tenants.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_appcontext
def show_command(slug: str, as_json: bool) -> None:
    """Show one workspace: state, plan, schema, members and owners."""
    from rapport.platform.db import db
    from rapport.platform.identity.models import Membership, User

    tenant = _get_tenant(slug)
    details = _summary(tenant)
    active = (Membership.tenant_id == tenant.id) & Membership.active.is_(True)
    count = select(func.count()).select_from(Membership).where(active)
    details["members"] = db.session.scalar(count)
    details["owners"] = list(
        db.session.scalars(
            select(User.email).join(Membership, Membership.user_id == User.id)
            .where(active, Membership.role == "owner").order_by(User.email)
        )
    )  # fmt: skip
    details["migration_error"] = tenant.migration_error
    details["migrated_at"] = tenant.migrated_at.isoformat() if tenant.migrated_at else None
    db.session.rollback()
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    _console().print(
        _pairs(
            ("slug", details["slug"]),
            ("name", details["name"]),
            ("id", details["id"]),
            ("state", details["state"]),
            ("plan", details["plan"]),
            ("schema", details["schema"]),
            ("schema version", details["schema_version"] or "-"),
            ("migrated", _when(details["migrated_at"]) if details["migrated_at"] else "-"),
            ("migration error", details["migration_error"] or "-"),
            ("members", str(details["members"])),
            ("owners", ", ".join(details["owners"]) or "-"),
            ("created", _when(details["created_at"])),
        )
    )


# -- delete -------------------------------------------------------------------------------------
@tenants.command("delete")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def delete_command(slug: str, yes: bool) -> None:
    """Delete a workspace and all its data: schema and role (or file), and its registry row."""
    from rapport.platform.audit import chain as audit
    from rapport.platform.db import db
    from rapport.platform.tenancy.provisioning import delete_tenant
    from rapport.platform.tenancy.scope import tenancy

    tenant = _get_tenant(slug)
    tenant_id, name, schema = tenant.id, tenant.name, tenant.schema_name
    # End the control-plane read before the owner connection rewrites the registry.
    db.session.rollback()
    if not yes:
        click.echo(f"This deletes {name} ({slug}) and every record in it. It cannot be undone.")
        typed = click.prompt(
            "Type the workspace address to confirm", default="", show_default=False
        )
        if typed.strip() != slug:
            click.echo("The address did not match; nothing was deleted.", err=True)
            raise click.exceptions.Exit(1)
    actor = _cli_actor()

    def audit_deletion(session: Any) -> None:
        audit.record_platform(
            session, "tenant.deleted", "tenant", tenant_id,
            {"slug": [slug, None], "name": [name, None], "schema": [schema, None]},
            tenant_id=tenant_id, actor=actor,
        )  # fmt: skip

    delete_tenant(tenancy(), tenant_id, on_control=audit_deletion)
    click.echo(f"Deleted workspace {slug} ({tenant_id}).")


# -- helpers ------------------------------------------------------------------------------------
def _get_tenant(slug: str):  # type: ignore[no-untyped-def]
    from rapport.platform.db import db
    from rapport.platform.tenancy.models import Tenant

    tenant = db.session.scalars(select(Tenant).where(Tenant.slug == slug.strip().lower())).first()
    if tenant is None:
        raise click.ClickException(f"No workspace has the address {slug!r}.")
    return tenant


def _summary(tenant: Any) -> dict[str, Any]:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "id": str(tenant.id),
        "state": tenant.state,
        "plan": tenant.plan,
        "schema": tenant.schema_name,
        "schema_version": tenant.schema_version,
        "created_at": tenant.created_at.isoformat(),
    }


def _cli_actor() -> Actor:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary container uid
        who = "unknown"
    return Actor("system", None, f"rapport CLI ({who})")


def _when(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _pairs(*rows: tuple[str, str]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(key, escape(value))
    return grid


def _console() -> Console:
    # Piped output (logs, tests) gets wide lines instead of rich's 80-column default.
    out = Console()
    return out if out.is_terminal else Console(width=200)


def register(group: click.Group) -> None:
    group.add_command(tenants)

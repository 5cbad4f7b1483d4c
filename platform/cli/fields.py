"""``rapport fields``: maintain custom field values."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("fields")
def fields() -> None:
    """Maintain custom fields."""


@fields.command("recompute")
@click.option("--tenant", "slug", metavar="SLUG", required=True, help="The workspace's address.")
@with_appcontext
def recompute_command(slug: str) -> None:
    """Recompute every roll-up and formula value of one workspace, in one transaction.

    Values follow every change made through the application; run this after a bulk edit made
    around it (a SQL script, a restore), or to refresh formulas that read today().
    """
    from rapport.platform.tenancy.scope import load_tenant, tenant_session
    from rapport.tenants.fields.config import recompute_tenant

    tenant = load_tenant(slug=slug)
    if tenant is None:
        raise click.ClickException(f"No active workspace has the address {slug!r}.")
    with tenant_session(tenant) as session:
        counts = recompute_tenant(session)
    if not counts:
        click.echo(f"{slug}: no formula or roll-up fields; nothing recomputed.")
        return
    for name, changed in counts.items():
        click.echo(f"{slug}: {name}: {changed} record(s) changed")
    click.echo(f"{slug}: recomputed {len(counts)} computed field group(s).")


def register(group: click.Group) -> None:
    group.add_command(fields)

"""``rapport search``: rebuild a workspace's search index from its records."""

from __future__ import annotations

import time

import click
from flask.cli import with_appcontext
from rich.console import Console
from rich.markup import escape


@click.group("search")
def search() -> None:
    """Look after the search indexes."""


@search.command("reindex")
@click.option("--tenant", "slug", metavar="SLUG", help="The workspace whose index to rebuild.")
@click.option("--all", "every", is_flag=True, help="Rebuild every active workspace's index.")
@with_appcontext
def reindex_command(slug: str | None, every: bool) -> None:
    """Rebuild the search index of one workspace (--tenant SLUG) or of all (--all).

    Each workspace is rebuilt in one transaction: searches keep the old index until it commits.
    """
    from sqlalchemy import select

    from rapport.platform.db import db
    from rapport.platform.tenancy.models import Tenant, TenantState
    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.search.index import reindex

    if bool(slug) == every:
        raise click.UsageError("Name one workspace with --tenant SLUG, or use --all.")
    stmt = select(Tenant).where(Tenant.state == TenantState.ACTIVE.value).order_by(Tenant.slug)
    if slug:
        stmt = stmt.where(Tenant.slug == slug.strip().lower())
    refs = [t.ref for t in db.session.scalars(stmt)]
    db.session.rollback()
    if slug and not refs:
        raise click.ClickException(f"No active workspace has the address {slug!r}.")
    out = Console() if Console().is_terminal else Console(width=200)
    for ref in refs:
        started = time.perf_counter()
        with tenant_session(ref) as session:
            counts = reindex(session)
        summary = ", ".join(f"{n} {name}" for name, n in counts.items())
        elapsed = time.perf_counter() - started
        out.print(f"[green]Reindexed[/green] {escape(ref.slug)}: {summary} ({elapsed:.1f} s)")


def register(group: click.Group) -> None:
    group.add_command(search)

"""``rapport migrate`` (the fleet) and ``rapport db`` (authoring migrations)."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rapport.platform import migrate
from rapport.platform.migrate_fleet import (
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_WORKERS,
    FleetReport,
    Outcome,
    fleet_status,
    migrate_fleet,
)

# How many failing tenants the summary names before it says "and N more".
SHOWN_FAILURES = 20


@click.group("migrate", invoke_without_command=True)
@click.option("--tenant", "slug", default=None, help="Migrate this tenant only (by slug).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Worker processes for the tenant fan-out.",
)
@click.option(
    "--to",
    "target",
    default="head",
    show_default=True,
    help="Tenant revision to reach; an older one downgrades.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0.1, 600),
    default=DEFAULT_LOCK_TIMEOUT_MS / 1000,
    show_default=True,
    help="Seconds a tenant may wait for a lock before it is recorded as failed.",
)
@click.pass_context
def migrate_command(
    ctx: click.Context, slug: str | None, workers: int, target: str, lock_timeout: float
) -> None:
    """Upgrade the control plane, then every tenant behind head (resumable)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(_migrate, slug=slug, workers=workers, target=target, lock_timeout=lock_timeout)


@with_appcontext
def _migrate(slug: str | None, workers: int, target: str, lock_timeout: float) -> None:
    from rapport.platform.tenancy.scope import tenancy

    runtime = tenancy()
    err = Console(stderr=True, highlight=False)
    migrate.upgrade_control_plane(runtime)
    click.echo(f"Control plane at {migrate.control_head()}.")
    report = _run_fleet(runtime, err, slug, workers, target, int(lock_timeout * 1000))
    _summarize(report, err)
    if not report.ok:
        sys.exit(1)


def _run_fleet(runtime, err: Console, slug, workers, target, lock_timeout_ms) -> FleetReport:  # type: ignore[no-untyped-def]
    progress = Progress(
        TextColumn("tenants"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    task = progress.add_task("tenants", total=None, failed=0)
    failed = 0

    def on_start(total: int) -> None:
        progress.update(task, total=total)

    def on_outcome(outcome: Outcome) -> None:
        nonlocal failed
        failed += outcome.error is not None
        progress.update(task, advance=1, failed=failed)

    try:
        with progress:
            return migrate_fleet(
                runtime,
                target=target,
                slug=slug,
                workers=workers,
                lock_timeout_ms=lock_timeout_ms,
                on_start=on_start,
                on_outcome=on_outcome,
            )
    except LookupError as error:
        raise click.ClickException(str(error)) from None


def _summarize(report: FleetReport, err: Console) -> None:
    if report.planned == 0:
        click.echo(f"Every tenant is at {report.target}.")
        return
    click.echo(f"{len(report.migrated)} of {report.planned} tenants now at {report.target}.")
    failed = report.failed
    if failed:
        names = ", ".join(o.slug for o in failed[:SHOWN_FAILURES])
        more = f" and {len(failed) - SHOWN_FAILURES} more" if len(failed) > SHOWN_FAILURES else ""
        err.print(f"[red]{len(failed)} tenant(s) failed:[/red] {escape(names)}{more}")
        for outcome in failed[:SHOWN_FAILURES]:
            err.print(f"  {escape(outcome.slug)}: {escape(outcome.error or '')}")
        err.print("Fix them and run `rapport migrate` again: it resumes where it stopped.")
    for message in report.worker_errors:
        err.print(f"[red]A worker stopped:[/red] {escape(message)}")
    missing = report.planned - len(report.outcomes)
    if missing:
        err.print(f"{missing} tenant(s) were not attempted; run `rapport migrate` again.")


@migrate_command.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@with_appcontext
def status_command(as_json: bool) -> None:
    """Show the fleet's schema versions and failing tenants, from the registry alone."""
    from rapport.platform.db import db

    status = fleet_status(db.session)
    db.session.rollback()
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
        return
    click.echo(f"Control plane: {status.control} (head {migrate.control_head()})")
    click.echo(f"Tenants: {status.total}, head {status.head}, {status.behind} behind")
    for version, count in status.versions.items():
        marker = "" if version == status.head else "  (behind)"
        click.echo(f"  {version:<12} {count:>8}{marker}")
    if status.failing:
        click.echo(f"Failing ({len(status.failing)}):")
        for row in status.failing:
            click.echo(f"  {row['slug']} at {row['version']}: {row['error']}")


# -- authoring -----------------------------------------------------------------------------------
@click.group("db")
def db_group() -> None:
    """Author migrations: baselines, new revisions, and the history check."""


TREE = click.option(
    "--tree", type=click.Choice(migrate.TREES), required=True, help="Which plane's migrations."
)


@db_group.command("baseline")
@TREE
def baseline_command(tree: str) -> None:
    """Rewrite the tree's baseline (c0001/t0001) from the models, by autogenerate."""
    from rapport.platform import migrate_authoring

    path = migrate_authoring.write_baseline(tree)
    click.echo(f"Wrote {path}")


@db_group.command("revision")
@TREE
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--autogenerate", is_flag=True, help="Fill it in from the models' differences.")
def revision_command(tree: str, message: str, autogenerate: bool) -> None:
    """Create the next revision of a tree (autogenerated against history replayed from base)."""
    from rapport.platform import migrate_authoring

    path = migrate_authoring.new_revision(tree, message, autogenerate=autogenerate)
    click.echo(f"Wrote {path}")


@db_group.command("check")
def check_command() -> None:
    """Fail when history replayed from base differs from the models."""
    from rapport.platform import migrate_authoring

    problems = 0
    for tree in migrate.TREES:
        diff = migrate_authoring.history_diff(tree)
        problems += len(diff)
        for item in diff:
            click.echo(f"{tree}: {item}", err=True)
    if problems:
        click.echo(
            "History and models differ: `rapport db baseline --tree TREE` (not yet shipped) "
            "or `rapport db revision --tree TREE -m MSG --autogenerate`.",
            err=True,
        )
        sys.exit(1)
    click.echo("History matches the models.")


def register(group: click.Group) -> None:
    group.add_command(migrate_command)
    group.add_command(db_group)

"""``rapport audit``: prove the audit chains intact."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from rich.console import Console
from rich.markup import escape
from rich.table import Table


@click.group("audit")
def audit() -> None:
    """Inspect the audit logs."""


@audit.command("verify")
@click.option(
    "--tenant", "slug", metavar="SLUG", help="Verify this workspace only (and the control plane)."
)
@with_appcontext
def verify_command(slug: str | None) -> None:
    """Verify the control plane's chain and every tenant's; exit 1 if any is broken."""
    from rapport.platform.audit.verify import registered_tenants, verify_chains

    tenants = registered_tenants(slug)
    if slug is not None and not tenants:
        raise click.ClickException(f"No workspace has the address {slug!r}.")
    table = Table(title="Audit chains")
    table.add_column("chain", no_wrap=True)
    table.add_column("entries", justify="right")
    table.add_column("result", overflow="fold")
    failures = 0
    for report in verify_chains(tenants):
        if report.error is not None:
            result = f"[red]UNREADABLE[/red]: {escape(report.error)}"
        elif report.broken is not None:
            b = report.broken
            result = f"[red]BROKEN[/red] at seq {b.seq} (entry {b.entry_id}): {escape(b.reason)}"
        else:
            result = "[green]OK[/green]"
        failures += not report.ok
        table.add_row(report.chain, str(report.checked), result)
    out = _console()
    out.print(table)
    if failures:
        out.print(f"[red]{failures} chain(s) failed verification.[/red]")
        raise click.exceptions.Exit(1)
    out.print("All chains verified.")


def _console() -> Console:
    # Piped output (logs, tests) gets wide lines instead of rich's 80-column default.
    out = Console()
    return out if out.is_terminal else Console(width=200)


def register(group: click.Group) -> None:
    group.add_command(audit)

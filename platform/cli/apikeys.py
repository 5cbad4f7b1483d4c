"""``rapport api-keys``: create, revoke and list a workspace's REST API keys."""

from __future__ import annotations

import getpass

import click
from flask.cli import with_appcontext
from rich.console import Console
from rich.table import Table

from rapport.platform.audit.context import Actor


@click.group("api-keys")
def api_keys() -> None:
    """Manage the REST API keys of workspaces."""


def _cli_actor() -> Actor:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary container uid
        who = "unknown"
    return Actor("system", None, f"rapport CLI ({who})")


def _tenant(slug: str):  # type: ignore[no-untyped-def]
    from rapport.platform.tenancy.scope import load_tenant

    tenant = load_tenant(slug=slug)
    if tenant is None:
        raise click.ClickException(f"No active workspace has the address {slug!r}.")
    return tenant


def _console() -> Console:
    out = Console()
    return out if out.is_terminal else Console(width=200)


@api_keys.command("create")
@click.option("--tenant", "slug", required=True, metavar="SLUG", help="The workspace's address.")
@click.option("--name", required=True, help="What will use the key, such as “ERP sync”.")
@click.option("--role", default=None, metavar="ROLE", help="The key's role (default: sales_rep).")
@click.option("--expires", "days", type=int, default=None, metavar="DAYS", help="Expire in DAYS.")
@with_appcontext
def create_command(slug: str, name: str, role: str | None, days: int | None) -> None:
    """Create a key and print it once: it cannot be shown again."""
    from rapport.platform.apikeys import services
    from rapport.platform.db import db
    from rapport.platform.errors import ValidationFailed

    tenant = _tenant(slug)
    try:
        key, text = services.create_key(
            db.session,
            tenant,
            name,
            role or services.DEFAULT_ROLE,
            expires_in_days=days,
            actor=_cli_actor(),
        )
    except ValidationFailed as exc:
        problems = "; ".join(f"--{field}: {' '.join(msgs)}" for field, msgs in exc.errors.items())
        raise click.ClickException(problems) from None
    db.session.commit()
    expires = key.expires_at.strftime("%Y-%m-%d %H:%M UTC") if key.expires_at else "never"
    click.echo(f"Created API key {key.id} ({key.name}, role {key.role}) for {tenant.slug}.")
    click.echo(f"Expires: {expires}")
    click.echo("The key, shown only this once (store it in your secret manager now):")
    click.echo(text)


@api_keys.command("revoke")
@click.argument("key_id")
@with_appcontext
def revoke_command(key_id: str) -> None:
    """Revoke a key by its id; requests with it fail from now on."""
    from rapport.platform.apikeys import services
    from rapport.platform.db import db
    from rapport.platform.errors import NotFound

    try:
        key = services.revoke_key(db.session, key_id, actor=_cli_actor())
    except NotFound:
        raise click.ClickException(f"No API key has the id {key_id!r}.") from None
    db.session.commit()
    click.echo(f"Revoked API key {key.id} ({key.name}).")


@api_keys.command("list")
@click.option("--tenant", "slug", required=True, metavar="SLUG", help="The workspace's address.")
@with_appcontext
def list_command(slug: str) -> None:
    """List a workspace's keys (never their secrets)."""
    from rapport.platform.apikeys import services
    from rapport.platform.db import db

    tenant = _tenant(slug)
    table = Table(title=f"API keys of {tenant.slug}")
    for column in ("id", "name", "role", "prefix", "created", "expires", "last used", "state"):
        table.add_column(column, overflow="fold")
    for key in services.list_keys(db.session, tenant.id):
        table.add_row(
            str(key.id),
            key.name,
            key.role,
            key.prefix_id,
            key.created_at.strftime("%Y-%m-%d"),
            key.expires_at.strftime("%Y-%m-%d") if key.expires_at else "never",
            (
                f"{key.last_used_at:%Y-%m-%d %H:%M} from {key.last_used_ip or '?'}"
                if key.last_used_at
                else "never"
            ),
            key.state(),
        )
    _console().print(table)


def register(group: click.Group) -> None:
    group.add_command(api_keys)

"""``rapport serve``: run the whole product on one machine (web and jobs)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--tls", is_flag=True, help="Serve HTTPS with a self-signed certificate (local use).")
@click.option("--no-jobs", is_flag=True, help="Do not run background jobs in this process.")
@with_appcontext
def serve(host: str, port: int, tls: bool, no_jobs: bool) -> None:
    """Prepare the database and serve Rapport (embedded default: SQLite and in-process jobs)."""
    from werkzeug.serving import run_simple

    from rapport.platform import migrate
    from rapport.platform.tenancy.scope import tenancy

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = app.config["RAPPORT"]
    migrate.upgrade_control_plane(tenancy())
    upgrade_tenants = getattr(migrate, "upgrade_all_tenants", None)
    if upgrade_tenants is not None:
        upgrade_tenants(app, quiet=True)
    if not no_jobs and not settings.redis_url:
        from rapport.platform.jobs import runtime

        runtime.start_embedded_runtime(app)
    ssl_context = None
    scheme = "http"
    if tls:
        ssl_context = _self_signed(settings.data_dir)
        scheme = "https"
    where = "embedded SQLite" if not settings.is_postgres else "PostgreSQL"
    click.echo(f"Rapport is running on {where} at {scheme}://{host}:{port}/  (Ctrl+C to stop)")
    click.echo(f"Data folder: {settings.data_dir}")
    if not settings.smtp_host and not settings.is_production:
        click.echo(f"Emails are kept locally: {scheme}://{host}:{port}/dev/mailbox")
    run_simple(host, port, app, threaded=True, use_reloader=False, ssl_context=ssl_context)


def _self_signed(data_dir) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Create (once) a self-signed certificate for local HTTPS runs."""
    from werkzeug.serving import make_ssl_devcert

    base = data_dir / "tls" / "localhost"
    cert, key = base.with_suffix(".crt"), base.with_suffix(".key")
    if not cert.exists() or not key.exists():
        base.parent.mkdir(parents=True, exist_ok=True)
        make_ssl_devcert(str(base), host="localhost")
    return str(cert), str(key)


def register(group: click.Group) -> None:
    group.add_command(serve)

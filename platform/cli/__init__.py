"""``rapport``: the operator's command line."""

from __future__ import annotations

import importlib

import click
from flask import Flask
from flask.cli import ScriptInfo, with_appcontext

# Each module defines click commands and a ``register(group)`` function.
COMMAND_MODULES = (
    "rapport.platform.cli.serve",
    "rapport.platform.cli.tenants",
    "rapport.platform.cli.migrate",
    "rapport.platform.cli.audit",
    "rapport.platform.cli.worker",
    "rapport.platform.cli.apikeys",
    "rapport.platform.cli.billing",
    "rapport.platform.cli.fields",
    "rapport.platform.cli.search",
)


def _create_app() -> Flask:
    from rapport.platform.app import create_app

    return create_app()


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Operate Rapport: serve it, run its workers, manage tenants and migrations."""
    ctx.ensure_object(ScriptInfo)
    # Keep a factory the caller already gave (Flask's test runner passes the app under test).
    if ctx.obj.create_app is None:
        ctx.obj.create_app = _create_app


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(main)


_register()

__all__ = ["main", "with_appcontext"]

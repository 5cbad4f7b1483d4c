"""Authoring migrations: regenerate the baselines, autogenerate revisions, check history.

Everything runs on a scratch SQLite database in memory where the plane's placeholder schema
(``platform`` or ``tenant``) is an attached empty database. History replayed there compares
directly with the models (whose tables are declared in those placeholder schemas), so neither a
server nor a real tenant is needed. See the docstring of :mod:`rapport.platform.migrate` for the
commands that drive this.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic.util import format_as_comma, load_python_file, template_to_file
from sqlalchemy import Column, Connection, MetaData, TypeDecorator, create_engine
from sqlalchemy.pool import StaticPool

from rapport.platform import migrate
from rapport.platform.db import CONTROL_SCHEMA, TENANT_SCHEMA

PLACEHOLDER = {"control": CONTROL_SCHEMA, "tenant": TENANT_SCHEMA}
BASELINE = {"control": "c0001", "tenant": "t0001"}
PREFIX = {"control": "c", "tenant": "t"}

Adds = tuple[tuple[str, str, str], ...]


def render_item(type_: str, obj: Any, _autogen_context: Any) -> str | bool:
    """Render our own column types as the SQLAlchemy type they build on (no imports of ours)."""
    if type_ != "type" or type(obj).__module__.startswith("sqlalchemy."):
        return False
    if isinstance(obj, TypeDecorator):
        obj = obj.impl_instance
    for cls in type(obj).__mro__:
        if cls.__module__ == "sqlalchemy.sql.sqltypes":
            return f"sa.{obj.adapt(cls)!r}"
    return False


def _metadata(tree: str) -> MetaData:
    from rapport.platform.metadata import control_metadata, tenant_metadata

    migrate.script_for(tree)  # validates the name
    return control_metadata() if tree == "control" else tenant_metadata()


@contextmanager
def scratch(tree: str) -> Iterator[Connection]:
    """An empty in-memory SQLite database with the plane's placeholder schema attached."""
    # One connection for the whole run: the attached in-memory schema lives on it.
    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"ATTACH DATABASE ':memory:' AS \"{PLACEHOLDER[tree]}\"")
            conn.commit()
            yield conn
    finally:
        engine.dispose()


def _attributes(tree: str, conn: Connection) -> dict[str, Any]:
    if tree == "tenant":
        return {"connection": conn, "tenant_schema": TENANT_SCHEMA}
    return {"connection": conn, "version_table_schema": CONTROL_SCHEMA}


def _for_this_dialect(conn: Connection) -> Any:
    """Leave out constraints the models create on another dialect only (``ddl_if``)."""
    dialect = conn.dialect.name

    def include(obj: Any, _name: Any, _type: str, _reflected: bool, _compare_to: Any) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect)

    return include


def _compare_context(tree: str, conn: Connection) -> MigrationContext:
    schema = PLACEHOLDER[tree]
    return MigrationContext.configure(
        conn,
        opts={
            "include_schemas": True,
            "include_name": lambda name, type_, _parent: type_ != "schema" or name == schema,
            "include_object": _for_this_dialect(conn),
            "version_table_schema": schema,
            "render_item": render_item,
            "compare_type": True,
        },
    )


@contextmanager
def _expression_indexes_unseen() -> Iterator[None]:
    """The scratch database is SQLite, which cannot reflect expression indexes (such as
    ``lower(name)``): SQLAlchemy and Alembic warn and leave them out of the comparison. Their
    revisions write them by hand, and PostgreSQL tenants are checked by the fleet's own tests."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index")
        yield


def replay(tree: str, conn: Connection, target: str = "head") -> None:
    """Run the tree's history from base on a scratch connection, through its env.py."""
    command.upgrade(migrate.alembic_config(tree, **_attributes(tree, conn)), target)
    conn.commit()


def history_diff(tree: str, target: str = "head") -> list[Any]:
    """What separates the models from a schema built by replaying history (empty when in step)."""
    with scratch(tree) as conn:
        replay(tree, conn, target)
        with _expression_indexes_unseen():
            return compare_metadata(_compare_context(tree, conn), _metadata(tree))


# -- baselines ---------------------------------------------------------------------------------
def later_adds(tree: str) -> Adds:
    """What the revisions after the baseline add (their ``adds``).

    Read file by file rather than through the revision map, so a broken baseline can still be
    regenerated.
    """
    versions = migrate.MIGRATIONS / tree / "versions"
    found: list[tuple[str, str, str]] = []
    for path in sorted(versions.glob("*.py")):
        if path.name.startswith(BASELINE[tree]):
            continue
        module = load_python_file(str(versions), path.name)
        found.extend(getattr(module, "adds", ()))
    return tuple(found)


def _without(upgrade_ops: ops.UpgradeOps, adds: Adds) -> ops.UpgradeOps:
    tables = {name for kind, name, _ in adds if kind == "table"}
    columns = {(t, c) for kind, t, c in adds if kind == "column"}
    indexes = {(t, i) for kind, t, i in adds if kind == "index"}

    def names(item: Any) -> set[str]:
        cols = getattr(item, "columns", None) or []
        return {getattr(c, "name", c) for c in (cols.values() if hasattr(cols, "values") else cols)}

    def left_out(table: str, item: Any) -> bool:
        if isinstance(item, Column):
            return (table, item.name) in columns
        if isinstance(item, ops.CreateIndexOp) and (table, item.index_name) in indexes:
            return True
        # An index or constraint over a column a later revision adds goes with that revision.
        return any((table, name) in columns for name in names(item))

    kept: list[Any] = []
    for op_ in upgrade_ops.ops:
        if op_.table_name in tables:
            continue
        if isinstance(op_, ops.CreateTableOp):
            op_.columns = [c for c in op_.columns if not left_out(op_.table_name, c)]
        elif isinstance(op_, ops.ModifyTableOps):
            op_.ops = [o for o in op_.ops if not left_out(op_.table_name, o)]
            if not op_.ops:
                continue
        kept.append(op_)
    return ops.UpgradeOps(ops=kept)


def baseline_ops(tree: str) -> ops.UpgradeOps:
    """Autogenerate against an empty database, minus what later revisions add."""
    with scratch(tree) as conn, _expression_indexes_unseen():
        script = produce_migrations(_compare_context(tree, conn), _metadata(tree))
    assert script.upgrade_ops is not None
    return _without(script.upgrade_ops, later_adds(tree))


def _tenant_code(code: str) -> str:
    """Point rendered tenant operations at the migration's schema instead of the placeholder."""
    code = code.replace(f"schema={TENANT_SCHEMA!r}", "schema=schema")
    return re.sub(rf"'{TENANT_SCHEMA}\.([\w.]+)'", r"f'{schema}.\1'", code)


def _render(tree: str, up: ops.UpgradeOps | ops.DowngradeOps) -> str:
    code = render_python_code(up, render_item=render_item)
    code = re.sub(r"^\s*# ###.*\n?", "", code, flags=re.M).strip()
    return _tenant_code(code) if tree == "tenant" else code


def write_baseline(tree: str) -> Path:
    """Rewrite the tree's baseline revision from the current models; return its path."""
    upgrade_ops = baseline_ops(tree)
    metadata = _metadata(tree)
    created = [o.table_name for o in upgrade_ops.ops if isinstance(o, ops.CreateTableOp)]
    hooked = [
        name
        for name in created
        if metadata.tables[f"{PLACEHOLDER[tree]}.{name}"].dispatch.after_create
    ]
    upgrades = _render(tree, upgrade_ops)
    imports = ""
    if hooked:
        schema_arg = "schema" if tree == "tenant" else "None"
        upgrades += f"\n    run_create_hooks({tree!r}, {schema_arg}, {tuple(hooked)!r})"
        imports = "from rapport.platform.migrate import run_create_hooks"
    script = migrate.script_for(tree)
    path = Path(script.versions) / f"{BASELINE[tree]}_baseline.py"
    draft = path.with_suffix(".draft")
    template_to_file(
        str(Path(script.dir) / "script.py.mako"),
        str(draft),
        "utf-8",
        comma=format_as_comma,
        up_revision=BASELINE[tree],
        down_revision=None,
        branch_labels=None,
        depends_on=None,
        create_date=dt.datetime.now(dt.UTC).date().isoformat(),
        message=(
            f"Baseline of the {tree} plane: autogenerated from the models.\n\n"
            "Regenerate with `rapport db baseline --tree " + tree + "` while it is not yet shipped."
        ),
        upgrades=upgrades,
        downgrades=_render(tree, upgrade_ops.reverse()),
        imports=imports,
    )
    for old in Path(script.versions).glob(f"{BASELINE[tree]}_*.py"):
        old.unlink()
    draft.rename(path)
    _format(path)
    _forget_scripts()
    return path


# -- new revisions -------------------------------------------------------------------------------
def next_revision_id(tree: str) -> str:
    prefix = PREFIX[tree]
    numbers = [
        int(rev.revision[1:])
        for rev in migrate.script_for(tree).walk_revisions()
        if re.fullmatch(rf"{prefix}\d+", rev.revision)
    ]
    return f"{prefix}{max(numbers, default=0) + 1:04d}"


def adds_of(upgrade_ops: ops.UpgradeOps) -> Adds:
    """What a set of autogenerated operations adds, in the ``adds`` notation."""
    found: list[tuple[str, str, str]] = []
    for op_ in upgrade_ops.ops:
        if isinstance(op_, ops.CreateTableOp):
            found.append(("table", op_.table_name, ""))
        inner = op_.ops if isinstance(op_, ops.ModifyTableOps) else [op_]
        for item in inner:
            if isinstance(item, ops.AddColumnOp):
                found.append(("column", item.table_name, item.column.name))
            elif isinstance(item, ops.CreateIndexOp) and item.index_name:
                found.append(("index", item.table_name, str(item.index_name)))
    return tuple(found)


def new_revision(tree: str, message: str, autogenerate: bool = False) -> Path:
    """Create the next revision of a tree, optionally autogenerated from the models."""
    captured: dict[str, Adds] = {}

    def directives(_context, _revision, scripts) -> None:  # type: ignore[no-untyped-def]
        if scripts and scripts[0].upgrade_ops is not None:
            captured["adds"] = adds_of(scripts[0].upgrade_ops)

    with scratch(tree) as conn:
        if autogenerate:
            replay(tree, conn)
        config = migrate.alembic_config(
            tree, **_attributes(tree, conn), process_revision_directives=directives
        )
        result = command.revision(
            config, message=message, autogenerate=autogenerate, rev_id=next_revision_id(tree)
        )
    assert result is not None and not isinstance(result, list)
    path = Path(result.path)
    text = path.read_text()
    if tree == "tenant":
        text = _tenant_code(text)
    if captured.get("adds"):
        text = text.replace("...] = ()", f"...] = {captured['adds']!r}", 1)
    path.write_text(text)
    _format(path)
    _forget_scripts()
    return path


def _forget_scripts() -> None:
    migrate.tenant_script.cache_clear()
    migrate.control_script.cache_clear()


def _format(path: Path) -> None:
    """Format a generated file with ruff when it is installed (a development dependency)."""
    path.write_text(re.sub(r"[ \t]+$", "", path.read_text(), flags=re.M))
    if importlib.util.find_spec("ruff") is None:
        return
    # Our own interpreter and a path we just wrote: no untrusted input reaches the command.
    ruff = [sys.executable, "-m", "ruff"]
    subprocess.run([*ruff, "check", "--quiet", "--fix", "--select", "I", str(path)], check=False)  # noqa: S603
    subprocess.run([*ruff, "format", "--quiet", str(path)], check=False)  # noqa: S603

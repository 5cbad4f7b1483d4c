"""What the benchmarks share: a throwaway deployment, fast fleet provisioning, timing helpers.

PostgreSQL: a database ``rapport_bench_<token>`` and role prefix ``rb<token>`` on the local server
(``RAPPORT_BENCH_PG_URL``, default postgres@127.0.0.1), both dropped at the end, roles included.
SQLite: a temporary data folder, removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get(
    "RAPPORT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RESULTS = Path(__file__).parent / "results"


def parser(description: str, tenants: int = 1000) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    p.add_argument("--tenants", type=int, default=tenants, help="tenants present before measuring")
    p.add_argument("--workers", type=int, default=2, help="processes that provision the fleet")
    return p


@contextmanager
def deployment(backend: str) -> Iterator[dict[str, Any]]:
    """Settings overrides for a throwaway deployment; everything is removed afterwards."""
    token = secrets.token_hex(4)
    data_dir = Path(tempfile.mkdtemp(prefix=f"rapport-bench-{token}-"))
    overrides: dict[str, Any] = {
        "env": "test",
        "data_dir": str(data_dir),
        "secret_key": "bench-" + token * 8,
    }
    admin = make_url(PG_URL)
    database = f"rapport_bench_{token}"
    prefix = f"rb{token}"
    if backend == "postgres":
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
        engine.dispose()
        overrides.update(
            database_url=admin.set(database=database).render_as_string(hide_password=False),
            role_prefix=prefix,
        )
    try:
        yield overrides
    finally:
        if backend == "postgres":
            engine = create_engine(admin, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                names = (
                    conn.execute(
                        text("SELECT rolname FROM pg_roles WHERE rolname LIKE :p"),
                        {"p": prefix + "\\_%"},
                    )
                    .scalars()
                    .all()
                )
                for name in names:
                    conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}"')
            engine.dispose()
        shutil.rmtree(data_dir, ignore_errors=True)


def make_app(overrides: dict[str, Any], control_plane: bool = True):  # type: ignore[no-untyped-def]
    from rapport.platform import migrate
    from rapport.platform.app import create_app
    from rapport.platform.tenancy.scope import tenancy

    app = create_app(overrides)
    if control_plane:
        with app.app_context():
            migrate.upgrade_control_plane(tenancy())
    return app


def _provision_share(overrides: dict[str, Any], slugs: list[str]) -> None:
    from rapport.platform.tenancy.provisioning import provision_tenant
    from rapport.platform.tenancy.scope import tenancy

    app = make_app(overrides, control_plane=False)
    with app.app_context():
        runtime = tenancy()
        for slug in slugs:
            provision_tenant(runtime, name=slug.title(), slug=slug)
        runtime.dispose()


def provision_fleet(
    overrides: dict[str, Any], count: int, workers: int, prefix: str = "t"
) -> float:
    """Provision ``count`` tenants with ``workers`` processes; return the seconds it took."""
    slugs = [f"{prefix}{i:06d}" for i in range(count)]
    started = time.perf_counter()
    if count:
        mp = multiprocessing.get_context("spawn")
        processes = [
            mp.Process(target=_provision_share, args=(overrides, slugs[i::workers]))
            for i in range(workers)
        ]
        for p in processes:
            p.start()
        for p in processes:
            p.join()
            if p.exitcode != 0:
                raise SystemExit(f"a provisioning worker failed (exit {p.exitcode})")
    return time.perf_counter() - started


def environment(overrides: dict[str, Any]) -> dict[str, str]:
    """The ``RAPPORT_*`` variables that make a ``rapport`` command use this deployment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.update({f"RAPPORT_{key.upper()}": str(value) for key, value in overrides.items()})
    return env


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p95": round(q[94], 2),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def machine() -> dict[str, Any]:
    return {
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on the machine skews timings; the load average says how much there was.
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def save(name: str, result: dict[str, Any]) -> None:
    """Print the result and keep a copy in bench/results/ (gitignored)."""
    result = {"benchmark": name, "machine": machine(), **result}
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{name}-{result.get('backend', '')}-{stamp}.json").write_text(
        json.dumps(result, indent=2)
    )

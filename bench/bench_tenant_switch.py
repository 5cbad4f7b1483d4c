"""Added cost per request of the tenant switch.

PostgreSQL, the switch is one round trip per transaction,
``SELECT set_config('role', ...), set_config('search_path', ...)``, on a pooled connection of the
NOINHERIT application role. Measured two ways, each on one tenant ("same") and rotating over all N
tenants ("rotating", as a busy server sees them):

- ``raw``: a transaction with a trivial tenant query (``count(*)`` of companies) on a pooled
  connection, without the switch (owner role) and with it (application role).
- ``unit_of_work``: what a request pays: ``tenant_session(ref)`` open, query, commit (switch,
  signal), against an ORM session on the owner engine with the tenant's translate map (no switch).

SQLite has no role switch; the tenant is chosen by engine (its file ATTACHed on connect). The same
two rows compare a plain query on the tenant's engine with a whole ``tenant_session``.

    /tmp/venv/bin/python bench/bench_tenant_switch.py --backend postgres --tenants 1000
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import deployment, make_app, parser, provision_fleet, save  # noqa: E402


def timed(fn: Callable[[int], None], iterations: int) -> dict[str, float]:
    """Run ``fn(i)`` ``iterations`` times after a warm-up; per-call microseconds."""
    for i in range(min(200, iterations)):
        fn(i)
    samples = []
    for i in range(iterations):
        started = time.perf_counter_ns()
        fn(i)
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return {
        "p50_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[int(len(samples) * 0.95) - 1], 1),
        "mean_us": round(statistics.fmean(samples), 1),
    }


def measure(runtime, refs: list, rotating: bool, iterations: int) -> dict[str, dict[str, float]]:  # type: ignore[type-arg, no-untyped-def]
    """Time the rows of one mode (one tenant, or rotating over all of them)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from rapport.platform.db import TENANT_SCHEMA
    from rapport.platform.tenancy import roles
    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.companies.models import Company

    count = select(func.count()).select_from(Company.__table__)

    def ref_of(i: int):  # type: ignore[no-untyped-def]
        return refs[i % len(refs)] if rotating else refs[0]

    def plain_engine(i: int):  # type: ignore[no-untyped-def]
        """The tenant without the switch: owner role (PostgreSQL), same engine (SQLite)."""
        ref = ref_of(i)
        if runtime.is_postgres:
            return runtime.owner_engine.execution_options(
                schema_translate_map={TENANT_SCHEMA: ref.schema_name}
            )
        return runtime.tenant_engine(ref.schema_name)

    def raw_plain(i: int) -> None:
        with plain_engine(i).connect() as conn, conn.begin():
            conn.execute(count).scalar()

    def raw_switched(i: int) -> None:
        ref = ref_of(i)
        role = roles.tenant_role_name(runtime.settings, ref.schema_name)
        with runtime.tenant_engine(ref.schema_name).connect() as conn, conn.begin():
            conn.execute(
                select(
                    func.set_config("role", role, True),
                    func.set_config("search_path", ref.schema_name, True),
                )
            )
            conn.execute(count).scalar()

    def uow_plain(i: int) -> None:
        with Session(bind=plain_engine(i)) as s:
            s.scalar(select(func.count()).select_from(Company))
            s.commit()

    def uow_tenant(i: int) -> None:
        with tenant_session(ref_of(i)) as s:
            s.scalar(select(func.count()).select_from(Company))

    rows = {"raw_without_switch": timed(raw_plain, iterations)}
    if runtime.is_postgres:
        rows["raw_with_switch"] = timed(raw_switched, iterations)
        rows["raw_added"] = _added(rows["raw_with_switch"], rows["raw_without_switch"])
    rows["uow_plain_session"] = timed(uow_plain, iterations)
    rows["uow_tenant_session"] = timed(uow_tenant, iterations)
    rows["uow_added"] = _added(rows["uow_tenant_session"], rows["uow_plain_session"])
    return rows


def main() -> None:
    p = parser("Time the tenant switch per request.", tenants=1000)
    p.add_argument("--iterations", type=int, default=3000)
    args = p.parse_args()
    with deployment(args.backend) as overrides:
        app = make_app(overrides)
        provision_fleet(overrides, max(args.tenants, 1), args.workers)

        from sqlalchemy import select

        from rapport.platform.db import db
        from rapport.platform.tenancy.models import Tenant
        from rapport.platform.tenancy.scope import tenancy

        with app.app_context():
            runtime = tenancy()
            refs = [t.ref for t in db.session.scalars(select(Tenant).order_by(Tenant.slug))]
            db.session.rollback()
            results = {
                mode: measure(runtime, refs, mode == "rotating", args.iterations)
                for mode in ("same", "rotating")
            }
            runtime.dispose()
            db.engine.dispose()
        save(
            "tenant_switch",
            {
                "backend": args.backend,
                "tenants": args.tenants,
                "iterations": args.iterations,
                "tenant_cache_size": runtime.settings.tenant_cache_size,
                "results": results,
            },
        )


def _added(with_: dict[str, float], without: dict[str, float]) -> dict[str, float]:
    return {key: round(with_[key] - without[key], 1) for key in with_}


if __name__ == "__main__":
    main()

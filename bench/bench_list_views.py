"""What a list view page costs near the start and deep into a large list (keyset paging).

One tenant is provisioned with ``--rows`` companies (inserted in bulk: the services' audit and
events are not what this measures) and one filterable integer custom field. Then every page of
``--limit`` rows is fetched in order, following the cursors, exactly as the list views do
(``filtering.parse`` / ``apply`` / ``sort_key`` + ``paging.keyset_page``), for three views:

- ``name``: all companies by name;
- ``filtered``: classification A (a third of them) by name;
- ``custom``: all companies by the custom field (through its JSON expression).

Reported per view: the time of the first 10 pages and of the last 10 pages (p50/p95, ms), and
for comparison one ``OFFSET`` query reaching the last page. Each page also counts the matching
rows (the "N companies" line), which costs the same at any depth.

    /tmp/venv/bin/python bench/bench_list_views.py --backend postgres --rows 100000
    /tmp/venv/bin/python bench/bench_list_views.py --backend sqlite --rows 100000
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import deployment, make_app, parser, percentiles, save  # noqa: E402


def _walk(app: Any, ref: Any, filters: list, sort: str, limit: int) -> tuple[list[float], int]:
    from sqlalchemy import select

    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants import filtering
    from rapport.tenants.companies.models import Company
    from rapport.tenants.paging import SortOption, keyset_page

    timings: list[float] = []
    cursor = None
    rows = 0
    while True:
        started = time.perf_counter()
        with app.app_context(), tenant_session(ref) as s:
            conditions = filtering.parse(s, "companies", filters)
            stmt = filtering.apply(s, "companies", select(Company), conditions)
            order = SortOption(sort, False)
            key = filtering.sort_key(s, "companies", sort)
            page = keyset_page(
                s, stmt, key=key, id_col=Company.id, sort=order, cursor=cursor, limit=limit
            )
        timings.append((time.perf_counter() - started) * 1000)
        rows += len(page.items)
        if page.next_cursor is None:
            return timings, rows
        cursor = page.next_cursor


def _offset(app: Any, ref: Any, filters: list, sort: str, skip: int, limit: int) -> float:
    from sqlalchemy import select

    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants import filtering
    from rapport.tenants.companies.models import Company

    started = time.perf_counter()
    with app.app_context(), tenant_session(ref) as s:
        conditions = filtering.parse(s, "companies", filters)
        stmt = filtering.apply(s, "companies", select(Company), conditions)
        key = filtering.sort_key(s, "companies", sort)
        s.scalars(stmt.order_by(key, Company.id).offset(skip).limit(limit)).all()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    p = parser(__doc__.splitlines()[0], tenants=0)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--limit", type=int, default=100)
    args = p.parse_args()
    with deployment(args.backend) as overrides:
        overrides["run_jobs_inline"] = True
        app = make_app(overrides)
        from sqlalchemy import insert

        from rapport.platform.db import utcnow
        from rapport.platform.ids import new_id
        from rapport.platform.tenancy.provisioning import provision_tenant
        from rapport.platform.tenancy.scope import tenancy, tenant_session
        from rapport.tenants.companies.models import Company
        from rapport.tenants.fields import services as fields

        with app.app_context():
            ref = provision_tenant(tenancy(), name="Bench", slug="bench-lists")
            with tenant_session(ref) as s:
                fields.create_field(
                    s, {"record_type": "companies", "api_name": "seats", "label": "Seats",
                        "type": "integer", "filterable": True},
                )  # fmt: skip
            batch = 5000
            for start in range(0, args.rows, batch):
                now = utcnow()
                rows = [
                    {"id": new_id(), "name": f"Company {n:07d}", "classification": "ABC"[n % 3],
                     "custom": {"seats": (n * 7919) % 100_000}, "created_at": now,
                     "updated_at": now, "do_not_email": False, "do_not_call": False}
                    for n in range(start, min(start + batch, args.rows))
                ]  # fmt: skip
                with tenant_session(ref) as s:
                    s.execute(insert(Company), rows)
            if tenancy().is_postgres:
                with tenancy().owner_engine.connect() as conn:
                    conn.exec_driver_sql("ANALYZE")
        result: dict[str, Any] = {"backend": args.backend, "rows": args.rows, "limit": args.limit}
        views = {
            "name": ([], "name"),
            "filtered": ([("classification", "eq", "A")], "name"),
            "custom": ([], "custom.seats"),
        }
        for label, (filters, sort) in views.items():
            timings, seen = _walk(app, ref, filters, sort, args.limit)
            result[label] = {
                "rows": seen,
                "pages": len(timings),
                "first_10_pages_ms": percentiles(timings[:10]),
                "last_10_pages_ms": percentiles(timings[-10:]),
                "offset_to_last_page_ms": round(
                    _offset(app, ref, filters, sort, max(0, seen - args.limit), args.limit), 2
                ),
            }
        with app.app_context():
            tenancy().dispose()
    save("list_views", result)


if __name__ == "__main__":
    main()

"""Filtering on a custom field against filtering on a built-in indexed column, in one run.

One tenant is provisioned with 100 companies, and ``--contacts`` contacts are loaded in bulk
(PostgreSQL: ``COPY`` into the tenant's table; SQLite: ``executemany``). Each contact belongs to
one of the companies (``company_id``, a column with its own index), has a surname out of 100
(``last_name``, indexed too) and, independently, a segment code out of 100 in its custom values
(``custom.segment``), so every filter below matches about 1% of the contacts. Only then is the
custom field defined through the fields service, filterable, so the service builds its
expression index (``(custom ->> 'segment')`` on PostgreSQL, ``json_extract`` on SQLite) over the
loaded rows, as it would for a tenant adding a field to a large table; that build is timed too.
The tables are analysed.

Each sample is what the contacts list does for one filter (the code ``web/listing.py`` runs):
a tenant unit of work, ``filtering.parse`` / ``apply``, the default sort (name) and
``paging.keyset_page`` with the list's capped count, a page of 25. The filters alternate, each
on a different value every sample (so no sample repeats the previous one's rows):

- ``builtin``: ``company_id eq <company>``, the built-in indexed column compared against;
- ``custom``: ``custom.segment eq <code>``;
- ``builtin_last_name``: ``last_name eq <surname>``, shown because the surname is also the
  head of the list's sort key: see bench/README.md for what that does to the plan.

Reported: p50/p95 of each, the ratio custom / built-in (goal ≤ 1.2 at the p95), and on
PostgreSQL the plans (EXPLAIN ANALYZE) of the page and count query of each filter.

    /tmp/venv/bin/python bench/bench_filter_custom.py --backend postgres --contacts 1000000
    /tmp/venv/bin/python bench/bench_filter_custom.py --backend sqlite --contacts 100000
"""

from __future__ import annotations

import io
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import deployment, make_app, parser, percentiles, save  # noqa: E402

FIRST = ("Anna", "Ben", "Chloé", "David", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas")
LAST = tuple(
    a + b
    for a in ("Berg", "Dahl", "Fern", "Gold", "Hart", "Lind", "Mar", "Nord", "Ros", "Wald")
    for b in ("mann", "strom", "ez", "ini", "sen", "ard", "ley", "ovic", "berg", "ton")
)  # 100 surnames
SEGMENTS = tuple(f"seg-{n:03d}" for n in range(100))
COLUMNS = (
    "id", "first_name", "last_name", "email", "company_id", "custom", "do_not_call",
    "do_not_email", "created_at", "updated_at",
)  # fmt: skip


def _companies(app: Any, ref: Any) -> list[Any]:
    """100 companies for the contacts to belong to (``company_id`` has its own index)."""
    from sqlalchemy import insert

    from rapport.platform.db import utcnow
    from rapport.platform.ids import new_id
    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.companies.models import Company

    ids = [new_id() for _ in range(100)]
    now = utcnow()
    with app.app_context(), tenant_session(ref) as s:
        s.execute(
            insert(Company),
            [{"id": i, "name": f"Company {n:03d}", "custom": {}, "created_at": now,
              "updated_at": now, "do_not_email": False, "do_not_call": False}
             for n, i in enumerate(ids)],
        )  # fmt: skip
    return ids


def _rows(count: int, rng: random.Random, companies: list[Any]) -> Any:
    from rapport.platform.db import utcnow
    from rapport.platform.ids import new_id

    now = utcnow()
    for n in range(count):
        last = LAST[rng.randrange(100)]
        yield (
            new_id(), FIRST[n % 10], last, f"p{n}@{last.lower()}.example.com",
            companies[rng.randrange(100)], {"segment": SEGMENTS[rng.randrange(100)]},
            False, False, now, now,
        )  # fmt: skip


def load_postgres(app: Any, ref: Any, count: int, rng: random.Random, companies: list) -> None:
    """COPY the contacts into the tenant's table on the owner connection (text format)."""
    from rapport.platform.tenancy.scope import tenancy

    engine = tenancy(app).owner_engine
    q = engine.dialect.identifier_preparer.quote
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        sql = f"COPY {q(ref.schema_name)}.contacts ({', '.join(COLUMNS)}) FROM STDIN"
        with cursor.copy(sql) as copy:
            buffer = io.StringIO()
            for n, row in enumerate(_rows(count, rng, companies), 1):
                values = list(row)
                values[5] = json.dumps(values[5])
                values[8] = values[9] = values[8].isoformat()
                buffer.write("\t".join(str(v) for v in values) + "\n")
                if n % 50_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        raw.commit()
    finally:
        raw.close()


def load_sqlite(app: Any, ref: Any, count: int, rng: random.Random, companies: list) -> None:
    """Insert through the tenant's session in batches (executemany)."""
    from sqlalchemy import insert

    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.contacts.models import Contact

    batch: list[dict[str, Any]] = []
    with app.app_context():
        for row in _rows(count, rng, companies):
            batch.append(dict(zip(COLUMNS, row, strict=True)))
            if len(batch) == 20_000:
                with tenant_session(ref) as s:
                    s.execute(insert(Contact), batch)
                batch = []
        if batch:
            with tenant_session(ref) as s:
                s.execute(insert(Contact), batch)


def list_page(app: Any, ref: Any, filters: list[tuple[str, str, str]]) -> tuple[float, int, bool]:
    """One list page under ``filters``, as the contacts list computes it; (ms, total, capped)."""
    from sqlalchemy import select

    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants import filtering
    from rapport.tenants.contacts.models import Contact
    from rapport.tenants.paging import SortOption, keyset_page
    from rapport.web.listing import COUNT_CAP

    started = time.perf_counter()
    with app.app_context(), tenant_session(ref) as s:
        conditions = filtering.parse(s, "contacts", filters)
        stmt = filtering.apply(s, "contacts", select(Contact), conditions)
        key = filtering.sort_key(s, "contacts", "name")
        page = keyset_page(
            s, stmt, key=key, id_col=Contact.id, sort=SortOption("name", False),
            count_cap=COUNT_CAP,
        )  # fmt: skip
        assert page.items, filters
    return (time.perf_counter() - started) * 1000, page.total, page.total_capped


def explain(app: Any, ref: Any, filters: list[tuple[str, str, str]]) -> list[str]:
    """PostgreSQL's plan (EXPLAIN ANALYZE) of the page query and of its count."""
    from sqlalchemy import func, select, text
    from sqlalchemy.dialects import postgresql

    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants import filtering
    from rapport.tenants.contacts.models import Contact

    out = []
    with app.app_context(), tenant_session(ref) as s:
        conditions = filtering.parse(s, "contacts", filters)
        stmt = filtering.apply(s, "contacts", select(Contact.id), conditions)
        key = filtering.sort_key(s, "contacts", "name")
        statements = (
            stmt.order_by(key, Contact.id).limit(26),
            select(func.count()).select_from(stmt.limit(10_001).subquery()),
        )
        for each in statements:
            compiled = each.compile(
                dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
            )
            sql = str(compiled).replace('"tenant".', "").replace("tenant.", "")
            out += list(s.execute(text("EXPLAIN ANALYZE " + sql)).scalars())
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0], tenants=0)
    p.add_argument("--contacts", type=int, default=1_000_000)
    p.add_argument("--samples", type=int, default=60)
    args = p.parse_args()
    rng = random.Random(11)
    with deployment(args.backend) as overrides:
        overrides["run_jobs_inline"] = True
        app = make_app(overrides)
        from rapport.platform.tenancy.provisioning import provision_tenant
        from rapport.platform.tenancy.scope import tenancy, tenant_session
        from rapport.tenants.fields import services as fields

        with app.app_context():
            ref = provision_tenant(tenancy(), name="Bench", slug="bench-filter")
        companies = _companies(app, ref)
        started = time.perf_counter()
        if tenancy(app).is_postgres:
            load_postgres(app, ref, args.contacts, rng, companies)
        else:
            load_sqlite(app, ref, args.contacts, rng, companies)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        with app.app_context(), tenant_session(ref) as s:
            # The commit's after-commit hook builds the expression index (inline here).
            fields.create_field(
                s, {"record_type": "contacts", "api_name": "segment", "label": "Segment",
                    "type": "text", "filterable": True},
            )  # fmt: skip
        index_s = time.perf_counter() - started
        runtime = tenancy(app)
        engine = (
            runtime.owner_engine if runtime.is_postgres else runtime.tenant_engine(ref.schema_name)
        )
        with engine.connect() as conn:
            conn.exec_driver_sql(f'ANALYZE "{ref.schema_name}".contacts')
            conn.commit()
        cases = {
            "builtin": lambda n: [("company_id", "eq", str(companies[(n * 37) % 100]))],
            "custom": lambda n: [("custom.segment", "eq", SEGMENTS[(n * 37) % 100])],
            "builtin_last_name": lambda n: [("last_name", "eq", LAST[(n * 37) % 100])],
        }
        for n in range(5):  # warm both
            for make in cases.values():
                list_page(app, ref, make(n))
        timings: dict[str, list[float]] = {name: [] for name in cases}
        totals: dict[str, Any] = {}
        for n in range(args.samples):
            for name, make in cases.items():
                ms, total, capped = list_page(app, ref, make(n))
                timings[name].append(ms)
                totals[name] = f"{total:,}{'+' if capped else ''}"
        results = {name: percentiles(values) for name, values in timings.items()}
        ratio = {
            key: round(results["custom"][key] / results["builtin"][key], 2)
            for key in results["custom"]
            if key in ("p50", "p95") and results["builtin"].get(key)
        }
        plans = None
        if runtime.is_postgres:
            plans = {name: explain(app, ref, make(0)) for name, make in cases.items()}
        with app.app_context():
            tenancy().dispose()
        summary = {
            "backend": args.backend, "contacts": args.contacts, "samples": args.samples,
            "load_s": round(load_s, 1), "custom_index_build_s": round(index_s, 1),
            "matches_of_last_sample": totals, "results_ms": results, "custom_over_builtin": ratio,
            "plans": plans,
        }  # fmt: skip
        save("filter_custom", summary)


if __name__ == "__main__":
    main()

"""Throughput of the REST API against a bare Flask + SQLAlchemy endpoint, same data, same run.

Full stack: ``GET /api/v1/companies`` (first page of 25, default sort, with the total) and
``GET /api/v1/companies/<id>`` with a bearer key: key lookup and HMAC check, the last-used note,
tenant switch, quota check, rate limit and usage count, the list query, marshmallow dump, ETag.
No audit entry is written for a read.

Bare: a separate ``Flask`` app whose views open a plain SQLAlchemy ``Session`` and run the same
query functions (``queries.list_companies`` / ``session.get``) and return JSON; no auth, no
switch (PostgreSQL: the owner role with the tenant's schema translate map; SQLite: the tenant's
engine). Both are driven in-process through their WSGI interface (Flask's test client), in
alternating rounds so drift on a busy machine falls on both sides alike.

    /tmp/venv/bin/python bench/bench_api.py --backend postgres
    /tmp/venv/bin/python bench/bench_api.py --backend sqlite
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import deployment, make_app, parser, save  # noqa: E402

RECORDS = 200


def bare_app(engine: Any) -> Any:
    """A minimal Flask app serving the same two reads straight from SQLAlchemy."""
    from flask import Flask, jsonify
    from sqlalchemy.orm import Session

    from rapport.tenants.companies import queries
    from rapport.tenants.companies.models import Company

    bare = Flask("bare")

    def row(c: Company) -> dict[str, Any]:
        return {
            "id": str(c.id), "name": c.name, "website": c.website, "domain": c.domain,
            "industry": c.industry, "phone": c.phone, "city": c.city, "country": c.country,
            "notes": c.notes, "created_at": c.created_at.isoformat(),
            "updated_at": c.updated_at.isoformat(),
        }  # fmt: skip

    @bare.get("/companies")
    def list_companies():  # type: ignore[no-untyped-def]
        with Session(engine) as session:
            page, sort = queries.list_companies(session, q="", sort=None, cursor=None, limit=25)
            return jsonify(
                {"items": [row(c) for c in page.items], "total": page.total, "sort": sort.token,
                 "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor}
            )  # fmt: skip

    @bare.get("/companies/<uuid:company_id>")
    def get_company(company_id):  # type: ignore[no-untyped-def]
        with Session(engine) as session:
            company = session.get(Company, company_id)
            return jsonify(row(company)) if company else ("", 404)

    return bare


def rate(fn: Callable[[], Any], seconds: float) -> float:
    """Requests per second of ``fn`` over about ``seconds``."""
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        response = fn()
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        count += 1
    return count / elapsed


def _profile(call: Callable[[], Any], count: int) -> None:
    """Print where the time of ``count`` calls goes (cumulative and own time)."""
    import cProfile
    import pstats

    for _ in range(50):
        call()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        call()
    profiler.disable()
    if os.environ.get("RAPPORT_PROFILE_DUMP"):
        profiler.dump_stats(os.environ["RAPPORT_PROFILE_DUMP"])
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    p = parser(__doc__.splitlines()[0], tenants=1)
    p.add_argument("--seconds", type=float, default=3.0, help="per round and side")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--profile", type=int, default=0, metavar="N",
        help="instead of measuring, profile N calls (--profile-case) with cProfile, print the top",
    )  # fmt: skip
    p.add_argument("--profile-case", choices=("get", "list"), default="get")
    p.add_argument("--profile-side", choices=("api", "bare"), default="api")
    p.add_argument(
        "--no-key-cache", action="store_true",
        help="re-read the key and tenant on every request (the cost before the per-process cache)",
    )  # fmt: skip
    args = p.parse_args()
    if args.no_key_cache:
        from rapport.platform.apikeys import services as key_services

        key_services.CACHE_SECONDS = -1.0
    with deployment(args.backend) as overrides:
        # The limits must not throttle the benchmark; the counting still runs on every call.
        overrides.update(api_rate_per_minute=10**9, api_tenant_rate_per_minute=10**9)
        app = make_app(overrides)
        from rapport.platform.apikeys import services as apikeys
        from rapport.platform.db import db
        from rapport.platform.jobs.runtime import jobs
        from rapport.platform.tenancy.provisioning import provision_tenant
        from rapport.platform.tenancy.scope import tenancy, tenant_session
        from rapport.tenants.companies import services as companies

        with app.app_context():
            runtime = tenancy()
            ref = provision_tenant(runtime, name="Bench", slug="bench")
            with tenant_session(ref) as s:
                ids = [
                    companies.create_company(
                        s, {"name": f"Company {n:04d}", "city": "Lyon", "website": "example.com"}
                    ).id
                    for n in range(RECORDS)
                ]
            key, key_text = apikeys.create_key(db.session, ref, "bench", "read_only")
            db.session.commit()
            # The seeding's outbox jobs (events, webhook fan-out) run on background threads: let
            # them finish, or they share the CPU with the first rounds of either side.
            jobs(app).runner.drain()
            if runtime.is_postgres:
                engine = runtime.owner_engine.execution_options(
                    schema_translate_map={"tenant": ref.schema_name}
                )
            else:
                engine = runtime.tenant_engine(ref.schema_name)
        bare = bare_app(engine).test_client()
        full = app.test_client()
        headers = {"Authorization": f"Bearer {key_text}"}
        target = ids[RECORDS // 2]
        cases = {
            "list": (
                lambda: full.get("/api/v1/companies", headers=headers),
                lambda: bare.get("/companies"),
            ),
            "get": (
                lambda: full.get(f"/api/v1/companies/{target}", headers=headers),
                lambda: bare.get(f"/companies/{target}"),
            ),
        }
        if args.profile:
            _profile(cases[args.profile_case][args.profile_side == "bare"], args.profile)
            with app.app_context():
                tenancy().dispose()
            return
        results: dict[str, Any] = {}
        for name, (api_call, bare_call) in cases.items():
            for _ in range(50):  # warm both
                api_call(), bare_call()
            api_rates, bare_rates = [], []
            for _ in range(args.rounds):
                api_rates.append(rate(api_call, args.seconds))
                bare_rates.append(rate(bare_call, args.seconds))
            api_rps, bare_rps = (
                sorted(api_rates)[len(api_rates) // 2],
                sorted(bare_rates)[len(bare_rates) // 2],
            )
            results[name] = {
                "api_rps": round(api_rps, 1),
                "bare_rps": round(bare_rps, 1),
                "ratio": round(api_rps / bare_rps, 3),
                "api_ms": round(1000 / api_rps, 3),
                "bare_ms": round(1000 / bare_rps, 3),
                "api_rounds": [round(r, 1) for r in api_rates],
                "bare_rounds": [round(r, 1) for r in bare_rates],
            }
        with app.app_context():
            tenancy().dispose()
        save(
            "api",
            {"backend": args.backend, "records": RECORDS, "rounds": args.rounds,
             "seconds": args.seconds, "key_cache": not args.no_key_cache, "results": results},
        )  # fmt: skip


if __name__ == "__main__":
    main()

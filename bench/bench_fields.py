"""What calculated fields cost a write: deal updates with and without roll-ups and formulas.

One tenant is provisioned; ``--companies`` companies with ``--deals`` deals each are created
through the services. Then ``--samples`` deal updates (an amount change, one transaction each,
through ``update_deal``) are timed three ways:

- ``plain``: no calculated field defined;
- ``computed``: two roll-ups on companies (count of open deals, sum of open amounts) and two
  formulas (one on deals reading ``amount``, one on companies reading the roll-ups), so every
  update recomputes the deal's formula, both roll-ups of its company and the company's formula;
- ``recompute_all``: ``rapport fields recompute`` for the whole tenant (seconds, once).

    /tmp/venv/bin/python bench/bench_fields.py --backend postgres
    /tmp/venv/bin/python bench/bench_fields.py --backend sqlite
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import deployment, make_app, parser, percentiles, save  # noqa: E402


def _time_updates(
    app: Any, ref: Any, deal_ids: list[Any], samples: int, offset: int
) -> list[float]:
    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.deals import services as deals

    timings = []
    for n in range(samples):
        deal_id = deal_ids[n % len(deal_ids)]
        started = time.perf_counter()  # every update changes the amount: no no-op writes
        with app.app_context(), tenant_session(ref) as s:
            deals.update_deal(s, deal_id, {"amount": str(offset + n)}, partial=True)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    p = parser(__doc__.splitlines()[0], tenants=0)
    p.add_argument("--companies", type=int, default=200)
    p.add_argument("--deals", type=int, default=10, help="deals per company")
    p.add_argument("--samples", type=int, default=300)
    args = p.parse_args()
    with deployment(args.backend) as overrides:
        # Jobs run inline (as in the tests): a background runner thread would compete for the
        # SQLite write lock and measure the runner, not the fields.
        overrides["run_jobs_inline"] = True
        app = make_app(overrides)
        from rapport.platform.tenancy.provisioning import provision_tenant
        from rapport.platform.tenancy.scope import tenancy, tenant_session
        from rapport.tenants.companies import services as companies
        from rapport.tenants.deals import services as deals
        from rapport.tenants.fields import services as fields
        from rapport.tenants.fields.config import recompute_tenant

        with app.app_context():
            ref = provision_tenant(tenancy(), name="Bench", slug="bench-fields")
            deal_ids = []
            with tenant_session(ref) as s:
                for c in range(args.companies):
                    company = companies.create_company(s, {"name": f"Company {c}"})
                    for d in range(args.deals):
                        deal_ids.append(
                            deals.create_deal(s, {"name": f"Deal {c}.{d}", "amount": "100",
                                                  "currency": "EUR",
                                                  "company_id": str(company.id)}).id
                        )  # fmt: skip
        plain = _time_updates(app, ref, deal_ids, args.samples, 1000)
        with app.app_context(), tenant_session(ref) as s:
            for data in (
                {"api_name": "open_deals", "type": "rollup", "rollup_related": "deals",
                 "rollup_aggregate": "count", "rollup_filter_field": "status",
                 "rollup_filter_value": "open"},
                {"api_name": "open_amount", "type": "rollup", "rollup_related": "deals",
                 "rollup_aggregate": "sum", "rollup_field": "amount",
                 "rollup_filter_field": "status", "rollup_filter_value": "open"},
                {"api_name": "average_deal", "type": "formula", "result_type": "number",
                 "formula": "round(custom.open_amount / custom.open_deals, 2)"},
            ):  # fmt: skip
                fields.create_field(s, {"record_type": "companies", "label": "x", **data})
            fields.create_field(s, {"record_type": "deals", "label": "Net", "type": "formula",
                                    "api_name": "net", "result_type": "number",
                                    "formula": "amount * 0.8"})  # fmt: skip
        computed = _time_updates(app, ref, deal_ids, args.samples, 5000)
        with app.app_context(), tenant_session(ref) as s:
            started = time.perf_counter()
            recompute_tenant(s)
        recompute_seconds = time.perf_counter() - started
        with app.app_context():
            tenancy().dispose()
    result = {
        "backend": args.backend,
        "companies": args.companies,
        "deals": args.companies * args.deals,
        "samples": args.samples,
        "update_plain_ms": percentiles(plain),
        "update_computed_ms": percentiles(computed),
        "recompute_all_s": round(recompute_seconds, 3),
    }
    save("fields", result)


if __name__ == "__main__":
    main()

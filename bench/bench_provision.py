"""Provisioning one tenant, p50/p95, with N tenants already present.

/tmp/venv/bin/python bench/bench_provision.py --backend postgres --tenants 1000 --samples 100
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import deployment, make_app, parser, percentiles, provision_fleet, save  # noqa: E402

GOAL_P95_MS = {"postgres": 100.0, "sqlite": 30.0}


def main() -> None:
    p = parser("Time provisioning one tenant with N tenants present.")
    p.add_argument("--samples", type=int, default=100, help="tenants provisioned while timing")
    args = p.parse_args()
    with deployment(args.backend) as overrides:
        app = make_app(overrides)
        fleet_seconds = provision_fleet(overrides, args.tenants, args.workers)
        from rapport.platform.tenancy.provisioning import provision_tenant
        from rapport.platform.tenancy.scope import tenancy

        samples: list[float] = []
        with app.app_context():
            runtime = tenancy()
            provision_tenant(runtime, name="Warm Up", slug="warm-up")  # first-use imports and pools
            for i in range(args.samples):
                started = time.perf_counter()
                provision_tenant(runtime, name=f"Sample {i}", slug=f"sample-{i:05d}")
                samples.append((time.perf_counter() - started) * 1000)
            runtime.dispose()
        stats = percentiles(samples)
        save(
            "provision",
            {
                "backend": args.backend,
                "tenants_present": args.tenants,
                "fleet_provisioning_s": round(fleet_seconds, 1),
                "fleet_rate_per_s": round(args.tenants / fleet_seconds, 1)
                if args.tenants
                else None,
                "provision_ms": stats,
                "goal_p95_ms": GOAL_P95_MS[args.backend],
                "meets_goal": stats["p95"] <= GOAL_P95_MS[args.backend],
            },
        )


if __name__ == "__main__":
    main()

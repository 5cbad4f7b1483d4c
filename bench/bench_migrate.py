"""`rapport migrate` of one additive tenant revision (t0002: a column and an index) over N tenants.

Provisions N tenants at head, brings them all back to t0001 with the same fan-out in the down
direction, then times the real command, `rapport migrate --workers W`, as an operator runs it
(interpreter start, control plane check, fan-out, registry updates).

    /tmp/venv/bin/python bench/bench_migrate.py --backend postgres --tenants 1000
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import deployment, environment, make_app, parser, provision_fleet, save  # noqa: E402

GOAL_S = 10.0


def main() -> None:
    p = parser("Time `rapport migrate` of t0002 over N tenants.")
    p.add_argument("--migrate-workers", type=int, default=2, help="rapport migrate --workers")
    p.add_argument(
        "--revision",
        default="t0002",
        help="the one revision to time (the fleet starts just below it)",
    )
    args = p.parse_args()
    with deployment(args.backend) as overrides:
        app = make_app(overrides)
        fleet_seconds = provision_fleet(overrides, args.tenants, args.workers)

        from rapport.platform.db import db
        from rapport.platform.migrate import tenant_script
        from rapport.platform.migrate_fleet import fleet_status, migrate_fleet
        from rapport.platform.tenancy.scope import tenancy

        below = tenant_script().get_revision(args.revision).down_revision
        with app.app_context():
            started = time.perf_counter()
            down = migrate_fleet(tenancy(), target=below, workers=args.migrate_workers)
            down_seconds = time.perf_counter() - started
            assert down.ok, down.failed[:3]
            before = fleet_status(db.session).versions
            db.session.rollback()
            tenancy().dispose()

        rapport = Path(sys.executable).parent / "rapport"
        started = time.perf_counter()
        run = subprocess.run(
            [
                str(rapport),
                "migrate",
                "--workers",
                str(args.migrate_workers),
                "--to",
                args.revision,
            ],
            env=environment(overrides),
            capture_output=True,
            text=True,
            check=False,
        )
        up_seconds = time.perf_counter() - started
        if run.returncode != 0:
            raise SystemExit(
                f"rapport migrate failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
            )

        with app.app_context():
            after = fleet_status(db.session)
            db.session.rollback()
            tenancy().dispose()
            db.engine.dispose()
        save(
            "migrate",
            {
                "backend": args.backend,
                "tenants": args.tenants,
                "workers": args.migrate_workers,
                "revision": args.revision,
                "fleet_provisioning_s": round(fleet_seconds, 1),
                "downgrade_fan_out_s": round(down_seconds, 2),
                "versions_before": before,
                "rapport_migrate_s": round(up_seconds, 2),
                "per_tenant_ms": round(up_seconds * 1000 / max(1, args.tenants), 2),
                "versions_after": after.versions,
                "output": run.stdout.strip().splitlines(),
                "goal_s_for_1000": GOAL_S,
                "meets_goal": up_seconds <= GOAL_S if args.tenants >= 1000 else None,
            },
        )


if __name__ == "__main__":
    main()

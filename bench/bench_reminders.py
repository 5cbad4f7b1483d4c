"""Reminder dispatch over a fleet: the tenant index against visiting every tenant's schema.

Provisions ``--tenants`` workspaces, gives ``--due`` of them one due reminder each, then times
(jobs run inline, so each figure includes the tenant jobs the dispatch starts):

- ``rebuild_pass``: the hourly pass that refreshes every active tenant from its database
  (index entry and visit generation): the cost the index saves every other minute;
- ``dispatch_idle``: the per-minute dispatch when no reminder is due anywhere (``--samples``);
- ``dispatch_due``: one dispatch that finds the ``--due`` tenants and sends their reminders;
- ``naive_scan``: what a dispatcher without the index would do each minute: open every tenant's
  unit of work and ask it for its next due reminder.

    /tmp/venv/bin/python bench/bench_reminders.py --backend postgres --tenants 300 --due 10
    /tmp/venv/bin/python bench/bench_reminders.py --backend sqlite --tenants 300 --due 10
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import deployment, make_app, parser, percentiles, provision_fleet, save  # noqa: E402


def main() -> None:
    p = parser(__doc__.splitlines()[0], tenants=300)
    p.add_argument("--due", type=int, default=10, help="tenants with a due reminder")
    p.add_argument("--samples", type=int, default=50)
    args = p.parse_args()
    with deployment(args.backend) as overrides:
        overrides["run_jobs_inline"] = True
        make_app(overrides).extensions  # noqa: B018 - creates the control plane
        provisioned = provision_fleet(overrides, args.tenants, args.workers)
        app = make_app(overrides, control_plane=False)
        result = {"backend": args.backend, "tenants": args.tenants, "due": args.due,
                  "provision_s": round(provisioned, 1)}  # fmt: skip
        with app.app_context():
            from sqlalchemy import select

            from rapport.platform.db import db, utcnow
            from rapport.platform.tenancy.models import Tenant
            from rapport.platform.tenancy.scope import tenancy, tenant_session
            from rapport.tenants.activities import reminders, services

            refs = [t.ref for t in db.session.scalars(select(Tenant).order_by(Tenant.slug))]
            db.session.rollback()

            started = time.perf_counter()
            reminders.dispatch_reminders(db.session)  # the first tick rebuilds
            result["rebuild_pass_ms"] = round((time.perf_counter() - started) * 1000, 1)

            idle = []
            for _ in range(args.samples):
                started = time.perf_counter()
                reminders.dispatch_reminders(db.session)
                idle.append((time.perf_counter() - started) * 1000)
            result["dispatch_idle_ms"] = percentiles(idle)

            past = (utcnow() - dt.timedelta(minutes=1)).isoformat()
            step = max(1, len(refs) // max(args.due, 1))
            for ref in refs[::step][: args.due]:
                with tenant_session(ref) as s:
                    services.create_activity(s, {"subject": "Bench", "remind_at": past})
            started = time.perf_counter()
            sent_to = reminders.dispatch_reminders(db.session)
            result["dispatch_due_ms"] = round((time.perf_counter() - started) * 1000, 1)
            result["tenants_visited"] = len(sent_to)

            scans = []
            for _ in range(3):
                started = time.perf_counter()
                for ref in refs:
                    with tenant_session(ref) as s:
                        reminders.next_due(s)
                scans.append((time.perf_counter() - started) * 1000)
            result["naive_scan_ms"] = percentiles(scans)
            tenancy().dispose()
            db.engine.dispose()
    save("reminders", result)


if __name__ == "__main__":
    main()

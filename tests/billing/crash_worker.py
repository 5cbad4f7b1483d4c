"""The metering worker as its own process, for the crash test: flush and push in a loop.

``python crash_worker.py '<json overrides>' TENANT_ID...`` creates the application with those
settings, prints ``ready`` and then runs the hourly-totals flush (committed) and the push to
Stripe for those tenants over and over until it is killed. Nothing here is special to tests:
it calls the same functions the periodic jobs call.
"""

from __future__ import annotations

import json
import sys
import uuid


def main() -> None:
    from rapport.billing import meter_push, metering
    from rapport.platform.app import create_app
    from rapport.platform.db import db

    app = create_app(json.loads(sys.argv[1]))
    tenant_ids = [uuid.UUID(arg) for arg in sys.argv[2:]]
    with app.app_context():
        print("ready", flush=True)
        while True:
            metering.write_hourly_totals(db.session, tenant_ids=tenant_ids)
            db.session.commit()
            meter_push.push_usage(tenant_ids=tenant_ids)


if __name__ == "__main__":
    main()

"""The metering hot path on Redis: events per second and the latency it adds per request.

What one API call pays for rate limits, the period quota and usage counting: one ``EVALSHA`` of
the limiter's Lua script (``platform/apikeys/limits.py``) that counts the key's and the tenant's
minute windows, checks the tenant's period counter against the plan's cap, and counts the call in
the period counter and the hourly usage hash. Measured with the real ``RedisLimiter`` and a
``Quota`` as billing registers it (period counter already seeded), over ``--tenants`` tenants and
several keys each, with limits high enough that nothing is refused.

- **latency**: one caller, ``--samples`` calls timed one by one (p50, p99, max);
- **throughput**: ``--threads`` callers in one process, then ``--processes`` processes (as web
  workers are) for ``--seconds`` each; every call is its own round trip.

- **per request, as the API runs it** (``--backend``, default postgres; ``--no-request``
  skips it): ``limits.check`` in a fresh request context each call, against a throwaway
  deployment with one Starter tenant: the plan's quota is looked up from the tenant's
  subscription, then the same ``EVALSHA``. Measured with the per-process subscription cache
  (``rapport.billing.access``) and without it (the subscription read from the control plane on
  every request, as before the cache).

Keys live under a throwaway prefix in Redis database 0 (test runs claim 1 to 15) and are deleted
at the end.

    /tmp/venv/bin/python bench/bench_metering.py
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import percentiles, save  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--redis", default=os.environ.get("RAPPORT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    p.add_argument("--tenants", type=int, default=100)
    p.add_argument("--samples", type=int, default=20_000)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    p.add_argument("--requests", type=int, default=5_000, help="calls per request-path case")
    p.add_argument("--no-request", action="store_true", help="skip the request-path cases")
    args = p.parse_args()

    from rapport.platform.apikeys.limits import Quota, RedisLimiter

    prefix = f"rbench{secrets.token_hex(4)}"
    limiter = RedisLimiter(args.redis, prefix)
    tenants = [secrets.token_hex(8) for _ in range(args.tenants)]
    keys = {t: [secrets.token_hex(6) for _ in range(3)] for t in tenants}
    big = 10**12

    def refusal() -> Exception:
        return RuntimeError("over quota")

    quota = Quota("2026112300", big, 3600, lambda: 0, refusal)
    for tenant in tenants:  # seeded, as after the first call of a period
        limiter.hit(keys[tenant][0], tenant, big, big, quota)

    def call(i: int) -> None:
        tenant = tenants[i % len(tenants)]
        decision = limiter.hit(keys[tenant][i % 3], tenant, big, big, quota)
        assert decision.allowed

    def evalsha_stats() -> tuple[int, int]:
        stats = limiter.redis.info("commandstats").get("cmdstat_evalsha", {})
        return int(stats.get("calls", 0)), int(stats.get("usec", 0))

    try:
        for i in range(2_000):  # warm-up: connection, script cache
            call(i)
        calls_before, usec_before = evalsha_stats()
        samples = []
        for i in range(args.samples):
            start = time.perf_counter()
            call(i)
            samples.append((time.perf_counter() - start) * 1000)
        latency = percentiles(samples)
        latency["p99"] = round(statistics.quantiles(samples, n=100)[98], 4)
        latency["max"] = round(max(samples), 4)

        counts = [0] * args.threads
        stop = threading.Event()

        def worker(n: int) -> None:
            i = n
            while not stop.is_set():
                call(i)
                i += args.threads
                counts[n] += 1

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.threads)]
        began = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        single = args.samples / (sum(samples) / 1000)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.processes) as pool:
            per_process = pool.starmap(
                _process_calls,
                [
                    (args.redis, prefix, tenants, keys, args.seconds, n)
                    for n in range(args.processes)
                ],
            )
        result = {
            "tenants": args.tenants,
            "latency_ms": latency,
            "events_per_second_one_caller": round(single),
            "events_per_second_threads": round(sum(counts) / elapsed),
            "threads": args.threads,
            "events_per_second_processes": round(
                sum(c for c, _s in per_process) / max(s for _c, s in per_process)
            ),
            "processes": args.processes,
            "goal": {"events_per_second": 10_000, "p99_ms": 1.0},
        }
        counted = sum(
            int(limiter.redis.get(f"{prefix}:usage:period:{t}:2026112300") or 0) for t in tenants
        )
        result["counted"] = counted
        calls_after, usec_after = evalsha_stats()
        # Server-side time per script run (this bench dominating the Redis): what one event
        # costs Redis itself, whatever else the clients' machine is doing.
        per_call = (usec_after - usec_before) / max(1, calls_after - calls_before)
        result["redis_usec_per_event"] = round(per_call, 2)
        result["redis_capacity_events_per_second"] = round(1_000_000 / per_call) if per_call else 0
        expected = (
            2_000 + args.samples + sum(counts) + len(tenants) + sum(c for c, _s in per_process)
        )
        assert counted == expected  # nothing lost, nothing counted twice
        if not args.no_request:
            result["per_request_ms"] = request_path(args)
        save("bench_metering", result)
    finally:
        for key in limiter.redis.scan_iter(f"{prefix}:*", count=1000):
            limiter.redis.delete(key)


def request_path(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """``limits.check`` as an API request runs it, with and without the subscription cache."""
    from _common import deployment, make_app

    with deployment(args.backend) as overrides:
        overrides.update(
            redis_url=args.redis, api_rate_per_minute=10**9, api_tenant_rate_per_minute=10**9
        )
        if args.backend == "sqlite":
            overrides["role_prefix"] = f"rbench{secrets.token_hex(4)}"
        app = make_app(overrides)
        from rapport.billing import access, services
        from rapport.platform.apikeys import limits
        from rapport.platform.db import db
        from rapport.platform.tenancy.provisioning import provision_tenant
        from rapport.platform.tenancy.scope import tenancy

        with app.app_context():
            ref = provision_tenant(tenancy(), name="Bench", slug="bench")
            services.start_trial(db.session, ref.id)
            services.set_plan(db.session, ref.id, "starter")  # a cap of 500,000 calls
            db.session.commit()
        key_id = secrets.token_hex(6)
        cases: dict[str, dict[str, float]] = {}
        try:
            for case, ttl in (("cached_subscription", access.CACHE_SECONDS), ("no_cache", 0)):
                app.config["BILLING_SUBSCRIPTION_CACHE_SECONDS"] = ttl
                access.clear_cache()
                samples = []
                for i in range(args.requests + 200):
                    with app.test_request_context("/api/v1/companies"):
                        start = time.perf_counter()
                        assert limits.check(key_id, ref.id).allowed  # type: ignore[arg-type]
                        if i >= 200:  # the first ones warm the connections and seed the quota
                            samples.append((time.perf_counter() - start) * 1000)
                stats = percentiles(samples)
                stats["p99"] = round(statistics.quantiles(samples, n=100)[98], 4)
                cases[case] = stats
        finally:
            redis = limits.limiter(app).redis  # type: ignore[union-attr]
            for key in redis.scan_iter(f"{overrides['role_prefix']}:*", count=1000):
                redis.delete(key)
            with app.app_context():
                tenancy().dispose()
        return cases


def _process_calls(
    url: str, prefix: str, tenants: list[str], keys: dict[str, list[str]], seconds: float, n: int
) -> tuple[int, float]:
    """One web-worker-like process calling the hot path for ``seconds``."""
    from rapport.platform.apikeys.limits import Quota, RedisLimiter

    limiter = RedisLimiter(url, prefix)
    big = 10**12
    quota = Quota("2026112300", big, 3600, lambda: 0, lambda: RuntimeError("over quota"))
    count, i = 0, n
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        tenant = tenants[i % len(tenants)]
        limiter.hit(keys[tenant][i % 3], tenant, big, big, quota)
        count += 1
        i += 7
    return count, time.perf_counter() - began


if __name__ == "__main__":
    main()

"""API rate limits (per key and per tenant) and the API-call usage meter, in one step per request.

A fixed one-minute window: Redis when configured (one round trip: a Lua script that counts the key
and the tenant, and counts the call as usage only when it was let through), process memory in the
embedded default. Usage is kept per tenant per hour (a Redis hash ``usage:<tenant>:<hour>`` with a
field per meter), which the billing job reads with :func:`api_calls`.

When billing registers a quota for the tenant (``app.extensions["rapport.api_quota"]``, see
:class:`Quota`), the same round trip also checks the period's counter against the plan's hard cap
and counts the call there; a call over the cap is refused with the quota's error and not counted.
A missing period counter (a new period, or Redis lost its data) is seeded once from the quota's
``seed`` (the billing ledger) and the call is checked again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

WINDOW = 60
USAGE_TTL = 8 * 24 * 3600  # long enough for the hourly flush to catch up after an outage
METER = "api_calls"

_SCRIPT = """
if #KEYS > 3 and redis.call('EXISTS', KEYS[4]) == 0 then return {0, 0, -1} end
local k = redis.call('INCR', KEYS[1])
if k == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
local t = redis.call('INCR', KEYS[2])
if t == 1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
if k <= tonumber(ARGV[1]) and t <= tonumber(ARGV[2]) then
  if #KEYS > 3 then
    if tonumber(redis.call('GET', KEYS[4])) >= tonumber(ARGV[6]) then return {k, t, 1} end
    redis.call('INCR', KEYS[4])
  end
  redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
return {k, t, 0}
"""


@dataclass(frozen=True)
class Quota:
    """A tenant's API-call cap for its current billing period (registered by billing)."""

    period: str  # names the period (its start), so a new period starts a new counter
    cap: int
    ttl: int  # seconds the period counter is kept
    seed: Callable[[], int]  # the period's usage so far, from the ledger
    refusal: Callable[[], Exception]  # the error a refused call raises


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against its limits, and what the headers report."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window starts over
    over_quota: bool = False  # refused for the period's quota, not the rate

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset)
        return headers


def hour_of(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H")


def _decide(key_count: int, tenant_count: int, key_limit: int, tenant_limit: int, reset: int):  # type: ignore[no-untyped-def]
    key_left, tenant_left = key_limit - key_count, tenant_limit - tenant_count
    # Report whichever limit binds first: that is the one the client must respect.
    limit, left = (key_limit, key_left) if key_left <= tenant_left else (tenant_limit, tenant_left)
    return Decision(key_left >= 0 and tenant_left >= 0, limit, max(left, 0), reset)


class MemoryLimiter:
    """One process's counters (the embedded default runs one web process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, int] = {}
        self._window_start = 0
        self._usage: dict[tuple[str, str], int] = {}
        self._periods: dict[tuple[str, str], int] = {}

    def hit(
        self,
        key_id: str,
        tenant_id: str,
        key_limit: int,
        tenant_limit: int,
        quota: Quota | None = None,
    ) -> Decision:
        now = time.time()
        start = int(now // WINDOW) * WINDOW
        period = (tenant_id, quota.period) if quota is not None else None
        if period is not None and period not in self._periods:
            seed = quota.seed()  # type: ignore[union-attr]
            with self._lock:
                self._periods.setdefault(period, seed)
        with self._lock:
            if start != self._window_start:
                self._windows, self._window_start = {}, start
            k = self._windows[f"k:{key_id}"] = self._windows.get(f"k:{key_id}", 0) + 1
            t = self._windows[f"t:{tenant_id}"] = self._windows.get(f"t:{tenant_id}", 0) + 1
            decision = _decide(k, t, key_limit, tenant_limit, max(1, start + WINDOW - int(now)))
            if decision.allowed and period is not None:
                if self._periods[period] >= quota.cap:  # type: ignore[union-attr]
                    return dataclasses.replace(decision, allowed=False, over_quota=True)
                self._periods[period] += 1
            if decision.allowed:
                hour = hour_of(dt.datetime.now(dt.UTC))
                self._usage[(tenant_id, hour)] = self._usage.get((tenant_id, hour), 0) + 1
                if len(self._usage) > 100_000:  # bounded: keep the most recent hours
                    recent = sorted({h for _t, h in self._usage})[-48:]
                    self._usage = {k: v for k, v in self._usage.items() if k[1] in recent}
        return decision

    def usage(self, tenant_id: str, hour: str) -> int:
        with self._lock:
            return self._usage.get((tenant_id, hour), 0)


class RedisLimiter:
    """Counters shared by every web process."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix
        self._script = self.redis.register_script(_SCRIPT)

    def _usage_key(self, tenant_id: str, hour: str) -> str:
        return f"{self.prefix}:usage:{tenant_id}:{hour}"

    def hit(
        self,
        key_id: str,
        tenant_id: str,
        key_limit: int,
        tenant_limit: int,
        quota: Quota | None = None,
    ) -> Decision:
        now = time.time()
        start = int(now // WINDOW) * WINDOW
        keys = [
            f"{self.prefix}:rl:key:{key_id}:{start}",
            f"{self.prefix}:rl:tenant:{tenant_id}:{start}",
            self._usage_key(tenant_id, hour_of(dt.datetime.now(dt.UTC))),
        ]
        args: list[Any] = [key_limit, tenant_limit, WINDOW * 2, METER, USAGE_TTL]
        if quota is not None:
            keys.append(f"{self.prefix}:usage:period:{tenant_id}:{quota.period}")
            args.append(quota.cap)
        k, t, over = self._script(keys=keys, args=args)
        if int(over) == -1:  # no counter for this period yet: seed it once, then check again
            self.redis.set(keys[3], quota.seed(), nx=True, ex=quota.ttl)  # type: ignore[union-attr]
            k, t, over = self._script(keys=keys, args=args)
        decision = _decide(
            int(k), int(t), key_limit, tenant_limit, max(1, start + WINDOW - int(now))
        )
        if int(over) == 1:
            return dataclasses.replace(decision, allowed=False, over_quota=True)
        return decision

    def usage(self, tenant_id: str, hour: str) -> int:
        raw = self.redis.hget(self._usage_key(tenant_id, hour), METER)
        return int(raw or 0)


def init_app(app: Flask) -> None:
    settings = app.config["RAPPORT"]
    if settings.redis_url:
        limiter: MemoryLimiter | RedisLimiter = RedisLimiter(
            settings.redis_url, settings.role_prefix
        )
    else:
        limiter = MemoryLimiter()
    app.extensions["rapport.api_limits"] = limiter


def limiter(app: Flask | None = None) -> MemoryLimiter | RedisLimiter:
    app = app or current_app
    if "rapport.api_limits" not in app.extensions:
        init_app(app)
    return app.extensions["rapport.api_limits"]


def check(key_id: uuid.UUID, tenant_id: uuid.UUID) -> Decision:
    """Count one API call of this key and tenant; the decision says whether it may proceed.
    A call over the tenant's period quota raises the quota's error instead (and is not
    counted)."""
    # Read on use, so an operator (or a test) can change the limits of a running app.
    settings = current_app.config["RAPPORT"]
    quota_of = current_app.extensions.get("rapport.api_quota")
    quota = quota_of(tenant_id) if quota_of is not None else None
    decision = limiter().hit(
        str(key_id),
        str(tenant_id),
        settings.api_rate_per_minute,
        settings.api_tenant_rate_per_minute,
        quota,
    )
    if decision.over_quota and quota is not None:
        raise quota.refusal()
    return decision


def api_calls(tenant_id: uuid.UUID, hour: dt.datetime | str, app: Flask | None = None) -> int:
    """How many API calls of the tenant were let through in this UTC hour (for billing)."""
    label = hour if isinstance(hour, str) else hour_of(hour)
    return limiter(app).usage(str(tenant_id), label)

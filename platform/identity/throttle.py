"""Sign-in throttling: failures counted per email and per client address in a fixed window.

Counting happens for every address typed, whether or not an account has it, so the throttle's
answers reveal nothing about which accounts exist. Counters live in Redis when it is configured
(shared by every web process) and in process memory otherwise (the embedded default runs one).
A successful sign-in clears the email's counter but not the address's, so one valid account
cannot be used to reset the budget of an address that is guessing at others.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass

from flask import Flask, current_app

from rapport.platform.errors import Throttled

# By default a client address may fail this many times more often than one email (offices and
# mobile networks share addresses); the setting ``extra["login_attempts_per_ip"]`` overrides it.
IP_FACTOR = 10


@dataclass(frozen=True)
class Limits:
    per_email: int
    per_ip: int
    window: int


class CounterStore:
    def count(self, key: str) -> tuple[int, int]:
        """Return (failures, seconds until the window ends) for a key."""
        raise NotImplementedError

    def hit(self, key: str, window: int) -> None:
        raise NotImplementedError

    def clear(self, key: str) -> None:
        raise NotImplementedError


class MemoryCounters(CounterStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def count(self, key: str) -> tuple[int, int]:
        with self._lock:
            failures, ends = self._counts.get(key, (0, 0.0))
            now = time.monotonic()
            if ends <= now:
                self._counts.pop(key, None)
                return 0, 0
            return failures, math.ceil(ends - now)

    def hit(self, key: str, window: int) -> None:
        with self._lock:
            now = time.monotonic()
            failures, ends = self._counts.get(key, (0, 0.0))
            if ends <= now:
                failures, ends = 0, now + window
            self._counts[key] = (failures + 1, ends)
            if len(self._counts) > 100_000:  # bounded: drop expired windows
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


class RedisCounters(CounterStore):
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}:login-failures:{key}"

    def count(self, key: str) -> tuple[int, int]:
        pipe = self.redis.pipeline()
        pipe.get(self._key(key))
        pipe.ttl(self._key(key))
        raw, ttl = pipe.execute()
        if raw is None:
            return 0, 0
        return int(raw), max(int(ttl), 1)

    def hit(self, key: str, window: int) -> None:
        pipe = self.redis.pipeline()
        # The window starts at the first failure: NX keeps later failures from extending it.
        pipe.set(self._key(key), 0, ex=window, nx=True)
        pipe.incr(self._key(key))
        pipe.execute()

    def clear(self, key: str) -> None:
        self.redis.delete(self._key(key))


def _email_key(email: str) -> str:
    # Hashed: the store holds no list of addresses people typed.
    return "email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _ip_key(ip: str | None) -> str:
    return "ip:" + (ip or "unknown")


class LoginThrottle:
    def __init__(self, store: CounterStore, app: Flask) -> None:
        self.store = store
        self.app = app

    @property
    def limits(self) -> Limits:
        # Read on use, so an operator (or a test) can change the settings of a running app.
        settings = self.app.config["RAPPORT"]
        per_email = settings.login_attempts_per_window
        per_ip = int(settings.extra.get("login_attempts_per_ip", per_email * IP_FACTOR))
        return Limits(per_email, per_ip, settings.login_window_seconds)

    def check(self, email: str, ip: str | None) -> None:
        """Raise Throttled when this email or address has failed too often in the window."""
        waits = []
        for key, limit in (
            (_email_key(email), self.limits.per_email),
            (_ip_key(ip), self.limits.per_ip),
        ):
            failures, remaining = self.store.count(key)
            if failures >= limit:
                waits.append(remaining)
        if waits:
            wait = max(waits)
            minutes = max(1, math.ceil(wait / 60))
            unit = "minute" if minutes == 1 else "minutes"
            raise Throttled(
                f"Too many failed sign-in attempts. Try again in {minutes} {unit}.",
                retry_after=wait,
            )

    def failed(self, email: str, ip: str | None) -> None:
        self.store.hit(_email_key(email), self.limits.window)
        self.store.hit(_ip_key(ip), self.limits.window)

    def succeeded(self, email: str) -> None:
        self.store.clear(_email_key(email))


# Password-reset requests: an address may ask a few times an hour; past that the answer stays the
# same ("if an account exists, we sent a link") but no more mail goes out, so the form cannot be
# used to flood someone's inbox. A client address asking for many addresses is refused outright.
RESET_PER_EMAIL = 3
RESET_PER_IP = 20
RESET_WINDOW = 3600


def reset_request_allowed(email: str, ip: str | None) -> bool:
    """Count a reset request: Throttled for a flooding client, False past the email's share."""
    store = login_throttle().store
    ip_key, email_key = "reset-" + _ip_key(ip), "reset-" + _email_key(email)
    requests, remaining = store.count(ip_key)
    if requests >= RESET_PER_IP:
        minutes = max(1, math.ceil(remaining / 60))
        raise Throttled(
            f"Too many reset requests from your network. Try again in {minutes} minutes.",
            retry_after=remaining,
        )
    store.hit(ip_key, RESET_WINDOW)
    sent, _remaining = store.count(email_key)
    if sent >= RESET_PER_EMAIL:
        return False
    store.hit(email_key, RESET_WINDOW)
    return True


def init_app(app: Flask) -> None:
    settings = app.config["RAPPORT"]
    store: CounterStore
    if settings.redis_url:
        store = RedisCounters(settings.redis_url, settings.role_prefix)
    else:
        store = MemoryCounters()
    app.extensions["rapport.login_throttle"] = LoginThrottle(store, app)


def login_throttle(app: Flask | None = None) -> LoginThrottle:
    app = app or current_app
    if "rapport.login_throttle" not in app.extensions:
        init_app(app)
    return app.extensions["rapport.login_throttle"]

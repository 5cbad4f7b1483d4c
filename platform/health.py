"""``/healthz``: is the database reachable, is Redis reachable."""

from __future__ import annotations

import time

from flask import Flask, current_app, jsonify
from sqlalchemy import text

from rapport.platform.db import db


def _check_database() -> dict[str, object]:
    started = time.perf_counter()
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - health reports any failure, it never raises
        db.session.rollback()
        return {"ok": False, "error": type(exc).__name__}
    backend = "postgresql" if current_app.config["RAPPORT"].is_postgres else "sqlite"
    return {"ok": True, "backend": backend, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_redis() -> dict[str, object]:
    settings = current_app.config["RAPPORT"]
    if not settings.redis_url:
        return {"ok": True, "backend": "embedded"}
    import redis

    started = time.perf_counter()
    try:
        redis.Redis.from_url(settings.redis_url, socket_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "backend": "redis", "ms": round((time.perf_counter() - started) * 1000, 2)}


def init_app(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        checks = {"database": _check_database(), "redis": _check_redis()}
        ok = all(c["ok"] for c in checks.values())
        return jsonify(status="ok" if ok else "degraded", **checks), 200 if ok else 503

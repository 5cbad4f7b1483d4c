"""The application factory."""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Flask, g, jsonify, request

from rapport.platform.settings import Settings, load_settings

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Create the Rapport application; nothing here touches the database."""
    settings = load_settings(overrides)
    import rapport.web

    # The instance path is given: Flask cannot infer one for a namespace package like `rapport`.
    app = Flask(
        "rapport.web",
        root_path=rapport.web.__path__[0],
        instance_path=str(settings.data_dir / "instance"),
        static_folder="static",
        template_folder="templates",
    )
    configure(app, settings)

    from rapport.platform.db import db
    from rapport.platform.tenancy import scope

    db.init_app(app)
    if settings.database_url.startswith("sqlite"):
        from rapport.platform.tenancy.engines import install_sqlite_hooks

        with app.app_context():
            install_sqlite_hooks(db.engine)
    scope.init_app(app, settings)

    from rapport.platform.jobs import runtime as jobs

    jobs.init_app(app)

    from rapport.platform import health

    health.init_app(app)
    import rapport.web as web

    web.init_app(app)
    import rapport.api as api

    api.init_app(app)  # after the browser: the API's error handler wraps the browser's
    _init_request_ids(app)
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    return app


def configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        RAPPORT=settings,
        SECRET_KEY=settings.secret_key,
        TESTING=settings.env == "test",
        SQLALCHEMY_DATABASE_URI=_control_url(settings),
        SQLALCHEMY_ENGINE_OPTIONS=_control_engine_options(settings),
        SESSION_COOKIE_NAME="rapport_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        MAX_CONTENT_LENGTH=25 * 1024 * 1024,
    )


def _control_url(settings: Settings) -> str:
    if settings.is_postgres:
        from rapport.platform.tenancy import roles

        return settings.database_app_url or roles.derived_app_url(settings)
    return settings.database_url


def _control_engine_options(settings: Settings) -> dict[str, Any]:
    if settings.is_postgres:
        return {
            "pool_size": settings.pool_size,
            "pool_recycle": settings.pool_recycle_seconds,
            "pool_pre_ping": True,
        }
    return {"execution_options": {"schema_translate_map": {"platform": None}}}


def _init_request_ids(app: Flask) -> None:
    @app.before_request
    def _request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)

    @app.after_request
    def _echo_request_id(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Request-ID", g.get("request_id", ""))
        return response


def settings_of(app: Flask) -> Settings:
    return app.config["RAPPORT"]


__all__ = ["create_app", "jsonify"]

"""The REST API (flask-smorest) under ``/api/v1``: the same services as the browser, keyed access.

``init_app`` must run after the browser's ``init_app``: both answer HTTP errors, and the API's
handler takes the paths under ``/api/`` and hands every other path to the browser's handler.
"""

from __future__ import annotations

import importlib

from flask import Flask, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

PREFIX = "/api/"
# Each module has a smorest blueprint ``blp`` and ``document(spec)`` naming its schemas.
RESOURCE_MODULES = (
    "rapport.api.companies",
    "rapport.api.contacts",
    "rapport.api.deals",
    "rapport.api.pipelines",
    "rapport.api.lookup",
    "rapport.api.batch",
    "rapport.api.leads",
    "rapport.api.activities",
    "rapport.api.notes",
    "rapport.api.webhooks",
    "rapport.api.fields",
    "rapport.api.members",
    "rapport.api.teams",
    "rapport.api.visits",
    "rapport.api.views",
    "rapport.api.workflows",
)


class RapportApi(Api):
    """smorest's Api, with its error handler confined to the API's paths."""

    def _register_error_handlers(self) -> None:
        app = self._app
        previous = app.error_handler_spec[None][None].get(HTTPException)

        def handle(error: HTTPException):  # type: ignore[no-untyped-def]
            if request.path.startswith(PREFIX):
                return self.handle_http_exception(error)
            return previous(error) if previous is not None else error

        app.register_error_handler(HTTPException, handle)


def init_app(app: Flask) -> None:
    from rapport.api import openapi
    from rapport.platform.apikeys import limits

    app.config.setdefault("API_TITLE", "Rapport")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    # No public document: each key reads its own tenant's at /api/v1/openapi.json.
    app.config.setdefault("OPENAPI_URL_PREFIX", None)
    api = RapportApi(
        app,
        spec_kwargs={
            "security": [{"apiKey": []}],
            "info": {
                "description": "Send a workspace API key: Authorization: Bearer rk_live_…",
            },
        },
    )
    api.spec.components.security_scheme("apiKey", {"type": "http", "scheme": "bearer"})
    app.extensions["rapport.api"] = api
    limits.init_app(app)
    for name in RESOURCE_MODULES:
        module = importlib.import_module(name)
        module.document(api.spec)
        api.register_blueprint(module.blp)
    app.register_blueprint(openapi.blp)

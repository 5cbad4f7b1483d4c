"""Browser-side protections: CSRF tokens on every state-changing request, Origin checks, headers."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request, session
from markupsafe import Markup

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token() -> str:
    token = session.get("_csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["_csrf"] = token
    return token


def csrf_field() -> Markup:
    # Markup.format escapes its arguments.
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token())


def _exempt() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, "csrf_exempt", False):
        return True
    # The REST API authenticates with bearer keys, not cookies: CSRF does not apply there.
    return request.path.startswith("/api/")


def csrf_exempt(view):  # type: ignore[no-untyped-def]
    """Mark a view that authenticates by other means (a signed webhook, a bearer key)."""
    view.csrf_exempt = True
    return view


def _same_origin(origin: str) -> bool:
    allowed = {
        _origin_of(current_app.config["RAPPORT"].base_url),
        _origin_of(request.host_url),
    }
    return _origin_of(origin) in allowed


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_request() -> None:
    if request.method not in UNSAFE_METHODS or _exempt():
        return
    origin = request.headers.get("Origin")
    if origin and origin != "null" and not _same_origin(origin):
        abort(403, description="This request came from another site and was refused.")
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = session.get("_csrf") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, description="Your form expired. Reload the page and try again.")


def _headers(response):  # type: ignore[no-untyped-def]
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
    )
    if current_app.config["RAPPORT"].base_url.startswith("https://"):
        h.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    return response


def init_app(app: Flask) -> None:
    app.before_request(check_request)
    app.after_request(_headers)
    app.jinja_env.globals.update(csrf_token=csrf_token, csrf_field=csrf_field)

"""Who is calling the API: the bearer key alone decides the tenant, the role and the audit actor.

Nothing else can switch the tenant: not a header, a body field or a path. Session cookies are not
read at all, so a signed-in browser cannot be driven into the API by another site. A key sent in a
query string is refused outright (URLs end up in logs, proxies and browser history).
"""

from __future__ import annotations

from flask import g, request
from flask_smorest import Blueprint

from rapport.api import errors, idempotency
from rapport.billing import quotas
from rapport.platform.apikeys import limits
from rapport.platform.apikeys import services as apikeys
from rapport.platform.apikeys.keyformat import LOOKS_LIKE_KEY
from rapport.platform.apikeys.services import KeyInfo
from rapport.platform.audit.context import Actor, set_actor
from rapport.platform.db import db
from rapport.platform.tenancy.scope import set_request_tenant, tenant_db
from rapport.tenants import records
from rapport.tenants.modules import services as modules
from rapport.tenants.roles import access

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Roles whose keys may only read.
READERS_ONLY = frozenset({"read_only"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="rapport"'}


def _unauthorized(message: str) -> None:
    errors.fail(401, message, headers=_CHALLENGE)


def authenticate_request() -> None:
    """Resolve the key, open the tenant scope, set the actor, then apply the rate limits."""
    if any("\x00" in value for values in request.args.listvalues() for value in values):
        # Databases refuse NUL in text; say so instead of failing on it.
        errors.fail(400, "Query parameters may not contain NUL characters.")
    if LOOKS_LIKE_KEY.search(request.query_string.decode("latin-1")):
        _unauthorized("Send the API key in the Authorization header, never in the address.")
    header = request.headers.get("Authorization")
    if not header:
        _unauthorized("Send an API key: Authorization: Bearer rk_…")
    found = apikeys.authenticate(db.session, header, request.remote_addr)
    if found is None:
        _unauthorized("The API key is not valid, has expired or was revoked.")
    key, tenant = found
    # The last-used note (if one was written) is a boundary of its own: it stays even if the
    # request then fails. A key found in the process cache read and wrote nothing: no commit.
    if db.session().in_transaction():
        db.session.commit()
    g.api_key = key
    set_request_tenant(tenant)
    set_actor(Actor("api_key", str(key.id), key.name))
    session = tenant_db()
    access.bind(session, key.created_by, key.role)
    module = modules.module_of_endpoint(request.endpoint)
    if module is not None and not modules.is_enabled(session, module):
        errors.fail(404, "Not found.")
    # Before counting: a call refused for its quota (or a suspended workspace) is not counted.
    refusal = quotas.api_refusal(tenant.id)
    if refusal is not None:
        raise refusal  # a domain error: the blueprint answers it in the API's error shape
    decision = limits.check(key.id, tenant.id)
    g.rate_limit = decision
    if not decision.allowed:
        errors.fail(
            429, "Too many requests. Wait for the window to reset.", headers=decision.headers()
        )
    if request.method not in SAFE_METHODS and key.role in READERS_ONLY:
        errors.fail(403, "This API key may only read.")
    kind = (request.blueprint or "").removeprefix("api_")
    if records.exists(kind) and not access.can(session, kind, "read"):
        errors.fail(403, f"This API key's role may not read {records.get(kind).label.lower()}.")


def _rate_headers(response):  # type: ignore[no-untyped-def]
    decision = g.get("rate_limit")
    if decision is not None:
        for name, value in decision.headers().items():
            response.headers.setdefault(name, value)
    return response


def current_key() -> KeyInfo:
    return g.api_key


def api_blueprint(name: str, import_name: str, **kwargs: object) -> Blueprint:
    """A smorest blueprint whose every request is authenticated by key and translated on error."""
    blp = Blueprint(name, import_name, **kwargs)  # type: ignore[arg-type]
    blp.before_request(authenticate_request)
    blp.before_request(idempotency.begin)  # after the key: claims are per API key
    blp.after_request(idempotency.finish)
    blp.after_request(_rate_headers)
    errors.install(blp)
    return blp

"""The public, embeddable lead capture form of each workspace: ``/forms/<slug>/leads``.

No sign-in: the tenant scope is opened here from the slug, and every lead goes through
``create_lead`` like any other, so the assignment rules route it. Spam is kept out three ways:

- a honeypot field people never see (a filled one gets a thank-you page and nothing is stored);
- a signed timestamp token (itsdangerous, the app's secret): a submission needs one that is at
  least ``MIN_SECONDS`` and at most ``MAX_AGE`` old, which stops replayed and scripted posts;
- a per-address rate limit on submissions (Redis when configured, memory otherwise).

A workspace embeds the form on its own site with the snippet shown in its leads settings: plain
HTML that posts here, plus ``embed.js``, which writes a fresh token into the form. Without
JavaScript, or with a stale token, the visitor lands on the hosted form with what they typed and
a fresh token, and sends it from there. ``return_to`` sends them back to their site afterwards,
if the address is on the workspace's allowed list.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
)
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from rapport.platform.audit.context import Actor, set_actor
from rapport.platform.errors import ValidationFailed
from rapport.platform.identity.throttle import login_throttle
from rapport.platform.tenancy.models import TenantRef
from rapport.platform.tenancy.scope import load_tenant, set_request_tenant, tenant_db
from rapport.platform.tenancy.slugs import RESERVED
from rapport.tenants.companies.schemas import countries
from rapport.tenants.leads import queries, services
from rapport.tenants.leads.schemas import PUBLIC_FIELDS
from rapport.web.security import csrf_exempt

bp = Blueprint("lead_forms", __name__, url_prefix="/forms")

MIN_SECONDS = 3
MAX_AGE = 24 * 3600
HONEYPOT = "homepage"
#: Submissions one client address may make per workspace in ``RATE_WINDOW`` seconds.
RATE_LIMIT = 10
RATE_WINDOW = 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["RAPPORT"].secret_key, salt="lead-form")


def issue_token(tenant: TenantRef) -> str:
    """A token naming the workspace, stamped with the time it was handed out."""
    return _serializer().dumps({"t": str(tenant.id)})


def token_problem(tenant: TenantRef, token: str) -> str | None:
    """Why a token cannot be accepted now (None: it can)."""
    if not token:
        return "missing"
    try:
        data, issued = _serializer().loads(token, max_age=MAX_AGE, return_timestamp=True)
    except SignatureExpired:
        return "expired"
    except BadSignature:
        return "invalid"
    if not isinstance(data, dict) or data.get("t") != str(tenant.id):
        return "invalid"
    if time.time() - issued.timestamp() < MIN_SECONDS:
        return "too fast"
    return None


def _tenant(slug: str) -> TenantRef:
    tenant = None if slug in RESERVED else load_tenant(slug=slug)
    if tenant is None:
        abort(404)
    set_request_tenant(tenant)
    g.form_tenant = tenant
    set_actor(Actor("system", None, "Public lead form"))
    form = queries.lead_form(tenant_db())
    if form is not None and not form.enabled:
        abort(404)
    return tenant


def _page(tenant: TenantRef, status: int = 200, **context: Any):  # type: ignore[no-untyped-def]
    context.setdefault("errors", {})
    context.setdefault("values", {})
    response = make_response(
        render_template(
            "lead_forms/form.html",
            tenant=tenant,
            token=issue_token(tenant),
            honeypot=HONEYPOT,
            countries=countries(),
            **context,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _thanks(tenant: TenantRef, return_to: str | None = None):  # type: ignore[no-untyped-def]
    form = queries.lead_form(tenant_db())
    if return_to and services.return_allowed(form, return_to):
        return redirect(return_to, 303)
    return render_template(
        "lead_forms/thanks.html", tenant=tenant, message=form.thank_you if form else None
    )


def _rate_limited(tenant: TenantRef) -> int:
    """Count this submission; return the seconds to wait when the address is over its limit."""
    store = login_throttle().store
    key = f"lead-form:{tenant.id}:{request.remote_addr or 'unknown'}"
    count, remaining = store.count(key)
    if count >= RATE_LIMIT:
        return max(remaining, 1)
    store.hit(key, RATE_WINDOW)
    return 0


@bp.get("/<slug>/leads")
def capture(slug: str):  # type: ignore[no-untyped-def]
    tenant = _tenant(slug)
    return _page(tenant, values={}, return_to=request.args.get("return_to", ""))


@bp.get("/<slug>/leads/embed.js")
def script(slug: str):  # type: ignore[no-untyped-def]
    """Write a fresh token into the embedded form(s) of this workspace on the page."""
    tenant = _tenant(slug)
    # The slug was found as a workspace, so it is [a-z0-9-] only; json.dumps quotes both values.
    selector = json.dumps(f'form[data-rapport-form="{slug}"]')
    body = (
        "(function(){var t=" + json.dumps(issue_token(tenant)) + ";"
        "var f=document.querySelectorAll(" + selector + ");"
        "for(var i=0;i<f.length;i++){var e=f[i].querySelector('input[name=_token]');"
        "if(e){e.value=t;}}})();\n"
    )
    response = make_response(body)
    response.headers["Content-Type"] = "application/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<slug>/leads")
@csrf_exempt
def submit(slug: str):  # type: ignore[no-untyped-def]
    tenant = _tenant(slug)
    return_to = request.form.get("return_to", "").strip()[:2000]
    wait = _rate_limited(tenant)
    if wait:
        minutes = max(1, math.ceil(wait / 60))
        response = make_response(
            render_template("lead_forms/limited.html", tenant=tenant, minutes=minutes), 429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if request.form.get(HONEYPOT):
        # A bot filled the field no person sees: answer as if it worked, keep nothing.
        return _thanks(tenant)
    values = {name: request.form.get(name, "") for name in PUBLIC_FIELDS}
    problem = token_problem(tenant, request.form.get("_token", ""))
    if problem is not None:
        return _page(tenant, 400, values=values, return_to=return_to, confirm=True)
    try:
        services.create_lead(tenant_db(), {**values, "source": "web_form"})
    except ValidationFailed as exc:
        return _page(tenant, 422, values=values, errors=exc.errors, return_to=return_to)
    return _thanks(tenant, return_to)

"""The public lead capture form: no sign-in, honeypot, signed time token, rate limit, return_to,
routing like every new lead, and each workspace's submissions staying in that workspace."""

from __future__ import annotations

import html
import re
import secrets
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.leads import services
from rapport.tenants.leads.models import Lead
from rapport.tenants.teams import services as team_services
from rapport.web.views.lead_forms import RATE_LIMIT


def minted(app, tenant, age: float, tenant_id=None) -> str:
    """A form token as the server would have issued it ``age`` seconds ago."""

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    serializer = URLSafeTimedSerializer(
        app.config["RAPPORT"].secret_key, salt="lead-form", signer=Then
    )
    return serializer.dumps({"t": str(tenant_id or tenant.ref.id)})


def ip() -> dict[str, str]:
    """A client address of this test's own, so rate limits of other tests do not count."""
    return {"REMOTE_ADDR": f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.7"}


def leads_named(app, tenant, last_name: str) -> list[Lead]:
    with app.app_context(), tenant_session(tenant.ref) as s:
        return list(s.scalars(select(Lead).where(Lead.last_name == last_name)))


@pytest.fixture()
def visitor(app):  # type: ignore[no-untyped-def]
    """A browser with no session at all, as a website visitor's."""
    return app.test_client()


def test_hosted_form_needs_no_sign_in_and_hides_the_trap(visitor, tenant_a):
    page = visitor.get(f"/forms/{tenant_a.slug}/leads")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Get in touch" in body
    assert 'name="_token" value="' in body and 'name="homepage"' in body
    assert page.headers["Cache-Control"] == "no-store"
    assert visitor.get("/forms/no-such-workspace-here/leads").status_code == 404
    script = visitor.get(f"/forms/{tenant_a.slug}/leads/embed.js")
    assert script.mimetype == "application/javascript"
    js = script.get_data(as_text=True)
    assert f'form[data-rapport-form=\\"{tenant_a.slug}\\"]' in js and "e.value=t" in js


def test_a_person_is_captured_and_routed(app, visitor, new_tenant):
    tenant = new_tenant("Formco")
    seller = tenant.owner_id
    with app.app_context(), tenant_session(tenant.ref) as s:
        team = team_services.create_team(s, {"name": "Iceland desk"})
        team_services.add_member(s, team.id, {"user_id": str(seller)})
        team_services.create_territory(
            s, {"name": "Iceland", "team_id": str(team.id), "countries": ["IS"]}
        )
    name = f"Sigurdsson {secrets.token_hex(3)}"
    response = visitor.post(
        f"/forms/{tenant.slug}/leads",
        data={"_token": minted(app, tenant, 10), "first_name": "Jon", "last_name": name,
              "email": "jon@example.is", "country": "is", "homepage": "",
              "status": "qualified", "owner_id": "x"},
        environ_base=ip(),
    )  # fmt: skip
    assert response.status_code == 200
    assert "We received your details" in html.unescape(response.get_data(as_text=True))
    (lead,) = leads_named(app, tenant, name)
    assert lead.source == "web_form" and lead.status == "new" and lead.country == "IS"
    assert lead.owner_id == seller  # visitors cannot pick fields the form does not offer


def test_bots_and_stale_or_hasty_posts_are_refused(app, visitor, tenants):
    a, b = tenants
    path = f"/forms/{a.slug}/leads"
    name = f"Bot {secrets.token_hex(3)}"
    trap = visitor.post(
        path,
        data={"_token": minted(app, a, 10), "last_name": name, "homepage": "http://spam"},
        environ_base=ip(),
    )
    assert trap.status_code == 200 and "Thank you" in trap.get_data(as_text=True)
    for token in (
        minted(app, a, 0),  # faster than a person types
        minted(app, a, 2 * 24 * 3600),  # older than a day
        minted(app, b, 10),  # another workspace's form
        "forged",
        "",
    ):
        response = visitor.post(
            path, data={"_token": token, "last_name": name, "email": "x@example.com"},
            environ_base=ip(),
        )  # fmt: skip
        body = html.unescape(response.get_data(as_text=True))
        assert response.status_code == 400
        assert "press “Send” again" in body and f'value="{name}"' in body
    assert leads_named(app, a, name) == [] and leads_named(app, b, name) == []


def test_invalid_input_is_shown_next_to_the_field(app, visitor, tenant_a):
    response = visitor.post(
        f"/forms/{tenant_a.slug}/leads",
        data={"_token": minted(app, tenant_a, 10), "last_name": "", "email": "nope"},
        environ_base=ip(),
    )
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert re.search(r'id="e-email" role="alert"><span>Enter an email address', body)
    assert re.search(r'id="e-last_name" role="alert"><span>Enter a last name or a company', body)


def test_return_to_only_on_the_allowed_list(app, visitor, tenant_a):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        services.save_lead_form(
            s, {"enabled": "1", "allowed_return_urls": "https://www.acme.example/thanks"}
        )
    path = f"/forms/{tenant_a.slug}/leads"
    data = {"last_name": f"Back {secrets.token_hex(3)}"}
    ok = visitor.post(
        path,
        data={**data, "_token": minted(app, tenant_a, 5),
              "return_to": "https://www.acme.example/thanks?from=form"},
        environ_base=ip(),
    )  # fmt: skip
    assert ok.status_code == 303
    assert ok.headers["Location"] == "https://www.acme.example/thanks?from=form"
    evil = visitor.post(
        path,
        data={**data, "_token": minted(app, tenant_a, 5),
              "return_to": "https://www.acme.example.evil.test/thanks"},
        environ_base=ip(),
    )  # fmt: skip
    assert evil.status_code == 200 and "Thank you" in evil.get_data(as_text=True)
    assert len(leads_named(app, tenant_a, data["last_name"])) == 2


def test_one_address_is_rate_limited(app, visitor, tenant_a):
    address = ip()
    path = f"/forms/{tenant_a.slug}/leads"
    for _ in range(RATE_LIMIT):
        visitor.post(path, data={"_token": "", "last_name": "Flood"}, environ_base=address)
    limited = visitor.post(
        path,
        data={"_token": minted(app, tenant_a, 10), "last_name": "Flood"},
        environ_base=address,
    )
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Try again in" in limited.get_data(as_text=True)
    other = visitor.post(
        path, data={"_token": minted(app, tenant_a, 10), "last_name": "Calm"}, environ_base=ip()
    )
    assert other.status_code == 200


def test_a_switched_off_form_is_gone(app, visitor, new_tenant):
    tenant = new_tenant("Closedco")
    with app.app_context(), tenant_session(tenant.ref) as s:
        services.save_lead_form(s, {"enabled": ""})
    assert visitor.get(f"/forms/{tenant.slug}/leads").status_code == 404
    response = visitor.post(
        f"/forms/{tenant.slug}/leads",
        data={"_token": minted(app, tenant, 10), "last_name": "Late"},
        environ_base=ip(),
    )
    assert response.status_code == 404
    assert leads_named(app, tenant, "Late") == []

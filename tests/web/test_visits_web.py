"""Visit plans in the browser: create (with inline errors), add customers (visits appear),
the adherence report per rep, pause, delete with confirmation, and isolation."""

from __future__ import annotations

import html
import re
import secrets

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def error_for(body: str, field: str) -> str | None:
    match = re.search(rf'<div class="error" id="e-{field}" role="alert">(.*?)</div>', body, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else None


def test_plan_customers_visits_and_adherence(client, auth, app, tenants):
    a, b = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        company = company_services.create_company(s, {"name": f"Stark {secrets.token_hex(3)}"})
        company_id, company_name = str(company.id), company.name
    auth.login_as(a)
    bad = auth.post(f"/{a.slug}/visits/",
                    {"name": "", "owner_id": str(a.owner_id), "every": "0", "unit": "weeks",
                     "starts_on": "2031-13-01", "horizon_days": "14"})  # fmt: skip
    body = page_text(bad)
    assert bad.status_code == 422
    assert error_for(body, "name") == "Name the plan."
    assert error_for(body, "every") == "Use a number from 1 to 52."
    assert error_for(body, "starts_on") == "Enter a date such as 2026-05-04."

    name = f"West route {secrets.token_hex(3)}"
    created = auth.post(f"/{a.slug}/visits/",
                        {"name": name, "owner_id": str(a.owner_id), "every": "1", "unit": "days",
                         "starts_on": "2020-01-06", "horizon_days": "6", "visit_time": "10:00",
                         "duration_minutes": "45", "active": "on"})  # fmt: skip
    assert created.status_code == 303
    plan_url = created.headers["Location"]
    assert "No customers yet" in page_text(client.get(plan_url))
    added = auth.post(plan_url + "/customers", {"customer": f"companies:{company_id}"})
    assert added.status_code == 303
    plan_page = page_text(client.get(plan_url))
    assert plan_page.count(f"Visit {company_name}") == 7  # today and the 6 days ahead
    again = auth.post(plan_url + "/customers", {"customer": f"companies:{company_id}"})
    assert again.status_code == 409 and "already on the plan" in page_text(again)
    regenerated = auth.post(plan_url + "/generate", {}, follow=True)
    assert "0 added, 0 removed" in page_text(regenerated)
    assert name in page_text(client.get(f"/{a.slug}/visits/"))

    report = page_text(client.get(f"/{a.slug}/visits/adherence"))
    row = re.search(rf'<tr data-owner="{a.owner_id}">(.*?)</tr>', report, re.S)
    assert row is not None and 'class="num upcoming">' in row.group(1)

    confirm = page_text(client.get(plan_url + "/delete"))
    assert "Delete the visit plan" in confirm
    assert auth.post(plan_url + "/delete", {}).status_code == 303
    assert client.get(plan_url).status_code == 404
    assert f"Visit {company_name}" not in page_text(
        client.get(f"/{a.slug}/activities/?scope=everyone")
    )
    auth.logout()
    auth.login_as(b)
    assert name not in page_text(client.get(f"/{b.slug}/visits/"))

"""A visit check-in in a real browser: the page asks for the position, the browser (granted
geolocation) gives it, and the visit stores it with the time and the outcome."""

from __future__ import annotations

import secrets
import uuid

import pytest
from playwright.sync_api import expect

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.activities.models import Activity
from rapport.tenants.companies import services as company_services
from rapport.tenants.visits import services as visit_services

pytestmark = pytest.mark.e2e


def test_check_in_on_a_planned_visit_stores_the_browsers_location(
    browser, live_server, app, tenants
):
    a, _b = tenants
    name = f"Umbrella {secrets.token_hex(3)}"
    with app.app_context(), tenant_session(a.ref) as s:
        company = company_services.create_company(s, {"name": name})
        plan = visit_services.create_plan(
            s,
            {"name": f"Route {secrets.token_hex(3)}", "owner_id": str(a.owner_id), "every": 1,
             "unit": "days", "starts_on": "2020-01-01", "horizon_days": 2},
        )  # fmt: skip
        visit_services.add_customer(s, plan.id, "companies", company.id)
        plan_id = str(plan.id)

    context = browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        permissions=["geolocation"],
        geolocation={"latitude": 48.8584, "longitude": 2.2945, "accuracy": 15},
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(f"/login?next=/{a.slug}/visits/{plan_id}")
        page.get_by_label("Email").fill(a.owner_email)
        page.get_by_label("Password").fill(a.owner_password)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"/{a.slug}/visits/{plan_id}")
        expect(page.get_by_role("heading", name="Customers")).to_be_visible()
        page.get_by_role("link", name=f"Visit {name}").first.click()

        page.get_by_label("Outcome").fill("Restocked the shelves")
        page.get_by_role("button", name="Check in").click()
        expect(page.locator(".flash-success")).to_contain_text("with your location")
        expect(page.locator(".checked-in .location")).to_have_text("48.85840, 2.29450")
        activity_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    finally:
        context.close()

    with app.app_context(), tenant_session(a.ref) as s:
        visit = s.get(Activity, uuid.UUID(activity_id))
        assert visit.checked_in_at is not None and visit.status == "done"
        assert (visit.latitude, visit.longitude, visit.accuracy) == (48.8584, 2.2945, 15.0)
        assert visit.outcome == "Restocked the shelves"

"""The workspace's billing page: plan, state, seats, trial end, usage bars, Stripe status."""

from __future__ import annotations

import datetime as dt
import html
import re

from rapport.billing import metering
from rapport.platform.db import db, utcnow
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as companies

from .conftest import days_ago


def usage_row(page: str, meter: str) -> tuple[str, str, str]:
    match = re.search(
        rf'<tr data-meter="{meter}">.*?<td class="used">([^<]*)</td>\s*'
        rf'<td class="included">([^<]*)</td>.*?<progress max="100" value="(\d+)"',
        page,
        re.S,
    )
    assert match, f"no usage row for {meter}"
    return match.group(1), match.group(2), match.group(3)


def test_the_owner_sees_plan_trial_seats_and_usage(
    app, auth, client, tenants, new_tenant, edit_subscription, subscription_of
) -> None:
    tenant = new_tenant("Billed")
    edit_subscription(tenant, current_period_start=days_ago(1))
    with app.app_context():
        metering.record_total(
            db.session, tenant.ref.id, "api_calls", utcnow() - dt.timedelta(hours=2), 2_500
        )
        db.session.commit()
        with tenant_session(tenant.ref) as session:
            for n in range(3):
                companies.create_company(session, {"name": f"Usage Co {n}"})
    auth.login_as(tenant)
    response = client.get(f"/{tenant.slug}/settings/billing/")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert '<dd id="plan-name">Free trial</dd>' in page
    assert '<dd id="state">Free trial</dd>' in page
    assert '<dd id="seats">1</dd>' in page
    trial_end = subscription_of(tenant).trial_ends_at.strftime("%Y-%m-%d")
    assert f'<dd id="trial-ends">{trial_end}</dd>' in page
    assert usage_row(page, "api_calls") == ("2,500", "10,000", "25")
    assert usage_row(page, "records") == ("3", "5,000", "0")
    assert "Billing not configured" in page
    # Settings lists the page.
    settings = client.get(f"/{tenant.slug}/settings/").get_data(as_text=True)
    assert f"/{tenant.slug}/settings/billing/" in settings


def test_another_workspace_cannot_open_the_page(auth, client, tenants) -> None:
    tenant_a, tenant_b = tenants
    auth.login_as(tenant_a)
    assert client.get(f"/{tenant_b.slug}/settings/billing/").status_code == 404
    assert client.get(f"/{tenant_a.slug}/settings/billing/").status_code == 200


def bars(page: str) -> dict[str, int]:
    """The daily chart's bars: day → quantity (server-rendered SVG)."""
    return {
        day: int(quantity)
        for day, quantity in re.findall(
            r'<rect [^>]*class="bar" data-day="([\d-]+)" data-quantity="(\d+)"', page
        )
    }


def test_the_daily_chart_draws_this_periods_usage_per_day(
    app, auth, client, tenants, new_tenant, edit_subscription
) -> None:
    tenant = new_tenant("Charted")
    edit_subscription(tenant, current_period_start=days_ago(3))
    today = metering.floor_hour(utcnow())
    yesterday = today - dt.timedelta(days=1)
    with app.app_context():
        metering.record_total(db.session, tenant.ref.id, "api_calls", yesterday, 700)
        metering.record_total(db.session, tenant.ref.id, "api_calls", today, 40)
        db.session.commit()
    auth.login_as(tenant)
    page = html.unescape(client.get(f"/{tenant.slug}/settings/billing/").get_data(as_text=True))
    section = page.split('id="daily"')[1].split("</section>")[0]
    assert '<svg class="billing-chart"' in section and "<script" not in section
    drawn = bars(page)
    assert len(drawn) == 4  # the period's first day to today
    assert drawn[yesterday.date().isoformat()] == 700
    assert sum(drawn.values()) == 740
    assert "740 this period of 10,000 included" in page
    # Another meter without usage: a sentence, not an empty chart.
    emails = html.unescape(
        client.get(f"/{tenant.slug}/settings/billing/?chart=emails").get_data(as_text=True)
    )
    assert "No emails sent yet this period" in emails and 'class="bar"' not in emails
    # What happens at each limit is spelled out.
    assert "What happens at each limit" in page and "suspended after 30 days" in page

    # Tenant A's usage is nowhere on tenant B's page.
    other = tenants[1]
    auth.login_as(other)
    theirs = html.unescape(client.get(f"/{other.slug}/settings/billing/").get_data(as_text=True))
    assert 700 not in bars(theirs).values()

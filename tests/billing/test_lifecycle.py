"""The billing sweep and the paid-plan pages: seats follow members (batched), plan changes with
proration, the portal, invoices, emails once per occasion, retention, trials and periods."""

from __future__ import annotations

import datetime as dt
import html
import re
import secrets

from rapport.billing import lifecycle, metering
from rapport.platform.cli import main
from rapport.platform.db import db, utcnow
from rapport.platform.identity import members
from rapport.platform.identity.models import User
from rapport.platform.identity.services import membership
from rapport.platform.tenancy.scope import tenant_session

from .conftest import days_ago, deliver

HOUR = dt.timedelta(hours=1)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def add_member(app, tenant) -> str:  # type: ignore[no-untyped-def]
    """Invite somebody and let them accept, through the real services; return the address."""
    email = f"member-{secrets.token_hex(3)}@{tenant.slug}.example.com"
    with app.app_context(), tenant_session(tenant.ref) as tsession:
        owner = membership(tenant.owner_id, tenant.ref.id)
        inviter = db.session.get(User, tenant.owner_id)
        invitation = members.invite(tsession, tenant.ref, owner, inviter, email, "sales_rep")
        user = members.register_invited(invitation, "New Member", "a long passphrase 4 seats!")
        members.accept(tsession, invitation, user)
        db.session.commit()
    return email


def sweep(app, now: dt.datetime | None = None) -> lifecycle.SweepReport:  # type: ignore[no-untyped-def]
    with app.app_context():
        report = lifecycle.sweep(db.session, now)
        db.session.commit()
        return report


def seat_item(fake, stripe_id: str) -> dict:  # type: ignore[type-arg]
    subscription = fake.objects["subscriptions"][stripe_id]
    return next(
        i
        for i in subscription["items"]["data"]
        if i["price"]["recurring"]["usage_type"] != "metered"
    )


def test_checkout_sells_seats_and_metered_overage_from_the_synced_catalog(
    app, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    tenant = new_tenant("Catalogued")
    stripe_id = paying(tenant)
    items = fake_stripe.objects["subscriptions"][stripe_id]["items"]["data"]
    keys = sorted(i["price"]["lookup_key"] for i in items)
    assert keys == [
        "rapport_starter_api_calls", "rapport_starter_emails", "rapport_starter_records",
        "rapport_starter_seat", "rapport_starter_workflow_runs",
    ]  # fmt: skip
    assert seat_item(fake_stripe, stripe_id)["quantity"] == 1
    assert subscription_of(tenant).stripe_seat_item_id == seat_item(fake_stripe, stripe_id)["id"]


def test_seats_follow_members_in_batches(
    app, tenants, new_tenant, paying, fake_stripe, subscription_of, edit_subscription
) -> None:
    tenant = new_tenant("Growing Team")
    stripe_id = paying(tenant)
    add_member(app, tenant)
    sweep(app)
    assert seat_item(fake_stripe, stripe_id)["quantity"] == 2
    assert subscription_of(tenant).seats == 2
    updates = [r for r in fake_stripe.requests if r[0] == "POST" and "subscription_items" in r[1]]

    # Two more join within the interval: no update yet (Stripe limits quantity changes per hour).
    add_member(app, tenant)
    add_member(app, tenant)
    sweep(app)
    assert seat_item(fake_stripe, stripe_id)["quantity"] == 2
    # After the interval one update carries both.
    edit_subscription(tenant, seats_synced_at=utcnow() - dt.timedelta(minutes=16))
    sweep(app)
    assert seat_item(fake_stripe, stripe_id)["quantity"] == 4
    after = [r for r in fake_stripe.requests if r[0] == "POST" and "subscription_items" in r[1]]
    assert len(after) == len(updates) + 1
    # The change was prorated: an invoice line for the rest of the period.
    customer = subscription_of(tenant).stripe_customer_id
    prorations = [
        i for i in fake_stripe.objects["invoices"].values()
        if i["customer"] == customer and i["description"] == "Proration"
    ]  # fmt: skip
    assert len(prorations) == 2 and all(i["amount_due"] > 0 for i in prorations)
    # The shared workspaces have no Stripe subscription: nothing was sent for them.
    for other in tenants:
        assert subscription_of(other).stripe_subscription_id is None


def test_plan_change_in_rapport_is_prorated_and_shown_with_invoices(
    app, auth, client, tenants, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    tenant = new_tenant("Switcher")
    stripe_id = paying(tenant)
    page = text(client.get(f"/{tenant.slug}/settings/billing/"))
    assert "Switch to Growth" in page and "Upgrade to" not in page
    assert "Subscription creation" not in page  # descriptions are not listed, numbers are
    assert page.count('class="invoice"') == 1

    response = auth.post(f"/{tenant.slug}/settings/billing/change-plan", {"plan": "growth"})
    assert response.status_code == 303
    page = text(client.get(response.headers["Location"]))
    assert "Moved to the Growth plan" in page
    assert subscription_of(tenant).plan == "growth"
    keys = sorted(
        i["price"]["lookup_key"]
        for i in fake_stripe.objects["subscriptions"][stripe_id]["items"]["data"]
    )
    assert keys == [
        "rapport_growth_api_calls", "rapport_growth_emails", "rapport_growth_records",
        "rapport_growth_seat", "rapport_growth_workflow_runs",
    ]  # fmt: skip
    assert page.count('class="invoice"') == 2  # the proration invoice

    # Tenant B cannot change tenant A's plan: its managers are not members here.
    other = tenants[1]
    auth.login_as(other)
    refused = auth.post(f"/{tenant.slug}/settings/billing/change-plan", {"plan": "starter"})
    assert refused.status_code in (403, 404)
    assert subscription_of(tenant).plan == "growth"


def test_the_portal_opens_for_the_paying_customer_only(
    app, auth, client, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    tenant = new_tenant("Portal")
    paying(tenant)
    response = auth.post(f"/{tenant.slug}/settings/billing/portal", {})
    assert response.status_code == 303
    assert re.fullmatch(
        re.escape(fake_stripe.url) + r"/portal/bps_\w+", response.headers["Location"]
    )
    portal = next(iter(fake_stripe.objects["portal_sessions"].values()))
    assert portal["customer"] == subscription_of(tenant).stripe_customer_id

    trial = new_tenant("Portal Trial")
    auth.login_as(trial)
    refused = auth.post(f"/{trial.slug}/settings/billing/portal", {})
    assert "Upgrade first" in text(client.get(refused.headers["Location"]))


def test_a_failed_payment_emails_the_admins_once(
    app, client, new_tenant, paying, fake_stripe, smtp, subscription_of
) -> None:
    tenant = new_tenant("Declined")
    stripe_id = paying(tenant)
    event = fake_stripe.fail_invoice(stripe_id)
    assert deliver(client, fake_stripe, event).status_code == 200
    assert subscription_of(tenant).state == "past_due"
    again = fake_stripe.event("invoice.payment_failed", event["data"]["object"])  # a new event id
    assert deliver(client, fake_stripe, again).status_code == 200
    mails = [m for m in smtp.to(tenant.owner_email) if "payment failed" in str(m["Subject"])]
    assert len(mails) == 1
    assert "keeps full access for 7 days" in smtp.text(mails[0])


def test_soft_limit_warns_once_per_period_and_meter(
    app, auth, client, tenants, new_tenant, smtp, edit_subscription
) -> None:
    tenant = new_tenant("Nearly Full")
    hour = metering.floor_hour(utcnow())  # the trial's period started this hour
    with app.app_context():
        metering.record_total(db.session, tenant.ref.id, "emails", hour, 450)  # trial: 500
        db.session.commit()
    sweep(app)
    sweep(app)
    mails = [m for m in smtp.to(tenant.owner_email) if "Emails sent at 90%" in str(m["Subject"])]
    assert len(mails) == 1
    assert "refuses more" in smtp.text(mails[0]) or "overage" in smtp.text(mails[0])
    auth.login_as(tenant)
    assert "Emails sent: 90% of the 500 included" in text(client.get(f"/{tenant.slug}/companies/"))
    for other in tenants:  # not theirs
        assert not [m for m in smtp.to(other.owner_email) if "Emails sent" in str(m["Subject"])]


def test_trial_end_is_announced_once_three_days_ahead(
    app, new_tenant, smtp, edit_subscription
) -> None:
    tenant = new_tenant("Trial Ending")
    sweep(app)
    assert not [m for m in smtp.to(tenant.owner_email) if "trial ends" in str(m["Subject"])]
    edit_subscription(tenant, trial_ends_at=utcnow() + dt.timedelta(days=2))
    sweep(app)
    sweep(app)
    assert len([m for m in smtp.to(tenant.owner_email) if "trial ends" in str(m["Subject"])]) == 1


def test_unpaid_workspaces_are_suspended_after_the_retention_period(
    app, auth, client, runner, tenants, new_tenant, edit_subscription, subscription_of
) -> None:
    tenant = new_tenant("Left Unpaid")
    edit_subscription(tenant, "unpaid")
    sweep(app)
    assert subscription_of(tenant).state == "unpaid"
    assert subscription_of(tenant).read_only_since is not None
    edit_subscription(tenant, read_only_since=days_ago(30.01))
    result = runner.invoke(main, ["billing", "sweep"])
    assert result.exit_code == 0 and "Suspended 1" in result.output, result.output
    assert subscription_of(tenant).state == "suspended"
    auth.login_as(tenant)
    assert client.get(f"/{tenant.slug}/companies/").status_code == 403
    for other in tenants:
        assert subscription_of(other).state == "trialing"


def test_an_expired_trial_counts_toward_retention_from_its_end(
    app, new_tenant, edit_subscription, subscription_of
) -> None:
    tenant = new_tenant("Long Expired")
    ended = days_ago(31)
    edit_subscription(tenant, trial_ends_at=ended, current_period_end=ended)
    sweep(app)
    assert subscription_of(tenant).state == "suspended"


def test_periods_roll_over_and_usage_starts_again(
    app, runner, new_tenant, edit_subscription, subscription_of
) -> None:
    tenant = new_tenant("Rolling")
    assert runner.invoke(main, ["tenants", "set-plan", tenant.slug, "starter"]).exit_code == 0
    start = days_ago(31)
    edit_subscription(
        tenant, current_period_start=start, current_period_end=start + dt.timedelta(days=30)
    )
    with app.app_context():
        metering.record_total(db.session, tenant.ref.id, "emails", days_ago(1), 77)
        db.session.commit()
    report = sweep(app)
    assert report.rolled_over >= 1
    subscription = subscription_of(tenant)
    assert subscription.current_period_start == start + dt.timedelta(days=30)
    assert subscription.current_period_end > utcnow()
    import json

    usage = json.loads(
        runner.invoke(main, ["billing", "usage", "--tenant", tenant.slug, "--json"]).output
    )
    assert usage["usage"]["emails"]["used"] == 77  # this new period's usage only


def test_stripes_trial_will_end_event_emails_once_and_deletion_cancels(
    app, client, new_tenant, paying, fake_stripe, smtp, subscription_of
) -> None:
    tenant = new_tenant("Stripe Trial")
    stripe_id = paying(tenant)
    subscription = fake_stripe.objects["subscriptions"][stripe_id]
    subscription["trial_end"] = int((utcnow() + dt.timedelta(days=3)).timestamp())
    event = fake_stripe.event("customer.subscription.trial_will_end", dict(subscription))
    assert deliver(client, fake_stripe, event).status_code == 200
    assert deliver(client, fake_stripe, event).get_json()["duplicate"] is True
    again = fake_stripe.event("customer.subscription.trial_will_end", dict(subscription))
    assert deliver(client, fake_stripe, again).status_code == 200
    mails = [m for m in smtp.to(tenant.owner_email) if "trial ends" in str(m["Subject"])]
    assert len(mails) == 1

    deleted = fake_stripe.set_status(stripe_id, "canceled")
    deleted["type"] = "customer.subscription.deleted"
    assert deliver(client, fake_stripe, deleted).status_code == 200
    assert subscription_of(tenant).state == "canceled"

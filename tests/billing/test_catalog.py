"""``rapport billing sync-plans``: the plan catalog in Stripe, created once and kept in step."""

from __future__ import annotations

from rapport.billing import catalog
from rapport.billing.plans import PLANS
from rapport.platform.cli import main


def test_sync_plans_creates_products_prices_and_meters_once(app, runner, fake_stripe) -> None:
    first = runner.invoke(main, ["billing", "sync-plans"])
    assert first.exit_code == 0, first.output
    paid = [p for p in PLANS.values() if p.seat_price_cents]
    assert set(fake_stripe.objects["products"]) == {f"rapport_{p.code}" for p in paid}
    meters = {m["event_name"]: m for m in fake_stripe.objects["meters"].values()}
    assert set(meters) == {f"rapport_{m}" for m in catalog.METERED}
    # Pre-aggregated hourly windows: resending an hour's total replaces it.
    assert {m["event_time_window"] for m in meters.values()} == {"hour"}
    # Flows bill the sum of their hours; levels (stored records, file storage) the last total.
    formulas = {name: m["default_aggregation"]["formula"] for name, m in meters.items()}
    assert formulas == {"rapport_api_calls": "sum", "rapport_workflow_runs": "sum",
                        "rapport_emails": "sum", "rapport_records": "last",
                        "rapport_storage_mb": "last"}  # fmt: skip
    assert "rapport_enterprise_storage_mb" in {
        p["lookup_key"] for p in fake_stripe.objects["prices"].values()
    }
    prices = {p["lookup_key"]: p for p in fake_stripe.objects["prices"].values()}
    starter_seat = prices["rapport_starter_seat"]
    assert starter_seat["unit_amount"] == PLANS["starter"].seat_price_cents
    overage = prices["rapport_starter_api_calls"]
    assert overage["recurring"]["usage_type"] == "metered"
    assert overage["recurring"]["meter"] == meters["rapport_api_calls"]["id"]
    assert overage["tiers"][0]["up_to"] == PLANS["starter"].included["api_calls"]
    assert "Created" in first.output

    objects_before = {k: dict(v) for k, v in fake_stripe.objects.items()}
    posts_before = sum(1 for method, _ in fake_stripe.requests if method == "POST")
    second = runner.invoke(main, ["billing", "sync-plans"])
    assert second.exit_code == 0, second.output
    assert "already in step" in second.output
    assert {k: dict(v) for k, v in fake_stripe.objects.items()} == objects_before
    assert sum(1 for method, _ in fake_stripe.requests if method == "POST") == posts_before


def test_a_changed_price_replaces_the_old_one_under_the_same_lookup_key(
    app, runner, fake_stripe
) -> None:
    assert runner.invoke(main, ["billing", "sync-plans"]).exit_code == 0
    seat = next(
        p
        for p in fake_stripe.objects["prices"].values()
        if p["lookup_key"] == "rapport_growth_seat"
    )
    seat["unit_amount"] = 1  # somebody edited Stripe by hand (or the catalog changed)
    result = runner.invoke(main, ["billing", "sync-plans"])
    assert result.exit_code == 0 and "Updated" in result.output, result.output
    now_keyed = [
        p
        for p in fake_stripe.objects["prices"].values()
        if p["lookup_key"] == "rapport_growth_seat"
    ]
    assert len(now_keyed) == 1 and now_keyed[0]["unit_amount"] == PLANS["growth"].seat_price_cents
    assert seat["active"] is False and seat["lookup_key"] is None


def test_sync_plans_without_a_stripe_key_says_so(app, runner) -> None:
    result = runner.invoke(main, ["billing", "sync-plans"])
    assert result.exit_code != 0
    assert "Billing not configured" in result.output

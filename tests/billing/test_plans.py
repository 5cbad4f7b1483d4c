"""The plan catalog: four plans, every meter priced or capped, rates that grow with the plan."""

from __future__ import annotations

import pytest

from rapport.billing.plans import METERS, PLANS, UnknownPlan, get_plan, plan_or_trial


def test_the_catalog_has_a_trial_and_three_paid_plans() -> None:
    assert list(PLANS) == ["trial", "starter", "growth", "enterprise"]
    assert PLANS["trial"].seat_price_cents == 0
    prices = [PLANS[c].seat_price_cents for c in ("starter", "growth", "enterprise")]
    assert prices == sorted(prices) and prices[0] > 0


@pytest.mark.parametrize("code", list(PLANS))
def test_every_plan_includes_every_meter_and_says_what_happens_beyond(code: str) -> None:
    plan = PLANS[code]
    assert set(plan.included) == set(METERS)
    assert all(plan.included[m] > 0 for m in METERS)
    for meter in METERS:
        # Beyond what is included a meter is either billed as overage or refused at a cap.
        assert meter in plan.overage_cents_per_1000 or plan.hard_cap(meter) is not None
    assert 0 < plan.api_rate_per_minute <= plan.api_tenant_rate_per_minute
    assert plan.includes("sales") and plan.includes("api")


def test_the_trial_is_capped_at_what_it_includes_and_enterprise_is_never_refused() -> None:
    trial = PLANS["trial"]
    assert all(trial.hard_cap(m) == trial.included[m] for m in METERS)
    assert all(PLANS["enterprise"].hard_cap(m) is None for m in METERS)


def test_bigger_plans_include_more_and_allow_faster_api_use() -> None:
    paid = [PLANS[c] for c in ("starter", "growth", "enterprise")]
    for meter in METERS:
        assert [p.included[meter] for p in paid] == sorted(p.included[meter] for p in paid)
    assert [p.api_rate_per_minute for p in paid] == sorted(p.api_rate_per_minute for p in paid)
    assert PLANS["enterprise"].includes("sso") and not PLANS["starter"].includes("sso")


def test_an_unknown_plan_is_refused_by_name_and_old_codes_fall_back_to_the_trial() -> None:
    with pytest.raises(UnknownPlan, match="platinum.*trial, starter, growth, enterprise"):
        get_plan("platinum")
    assert plan_or_trial("legacy-2019").code == "trial"
    assert plan_or_trial(None).code == "trial"

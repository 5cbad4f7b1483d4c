"""The plan catalog in Stripe: products, seat prices, metered overage prices and Billing Meters.

:func:`sync_catalog` makes Stripe match :mod:`rapport.billing.plans` and is idempotent: objects
are found by stable ids and lookup keys (product ``rapport_<plan>``, prices
``rapport_<plan>_seat`` and ``rapport_<plan>_<meter>``, meters by event name ``rapport_<meter>``),
and only what differs is created. Prices cannot be edited in Stripe: a changed price is created
anew, takes over the lookup key (``transfer_lookup_key``) and the old one is deactivated, so
existing subscriptions keep theirs until they are moved.

Meters use pre-aggregated hourly ingestion (``event_time_window=hour``): the last value received
in each UTC hour counts. Rapport sends each hour's absolute total, so resending an hour (after a
crash, or a corrected total) replaces it instead of adding to it. Flows (API calls, workflow runs,
emails) aggregate with ``sum``: a period bills the sum of its hours. Stored records are a level
(a gauge): its meter aggregates with ``last``, so a period bills the count last reported in it,
not the sum of every hour's count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import stripe

from rapport.billing.plans import METER_LABELS, PLANS, Plan

#: Meters billed through Stripe as overage.
METERED = ("api_calls", "workflow_runs", "emails", "records", "storage_mb")
#: How each meter aggregates a period's hourly totals in Stripe: flows add up, levels (stored
#: records, file storage) bill what the period ended with.
FORMULAS = {
    "api_calls": "sum",
    "workflow_runs": "sum",
    "emails": "sum",
    "records": "last",
    "storage_mb": "last",
}
CURRENCY = "usd"


def product_id(plan: Plan) -> str:
    return f"rapport_{plan.code}"


def seat_key(plan: Plan) -> str:
    return f"rapport_{plan.code}_seat"


def overage_key(plan: Plan, meter: str) -> str:
    return f"rapport_{plan.code}_{meter}"


def event_name(meter: str) -> str:
    return f"rapport_{meter}"


def paid_plans() -> list[Plan]:
    return [p for p in PLANS.values() if p.seat_price_cents > 0]


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


@dataclass(frozen=True)
class Catalog:
    """The Stripe ids Checkout and plan changes use."""

    seat_prices: dict[str, str]  # plan code → price id
    overage_prices: dict[tuple[str, str], str]  # (plan code, meter) → price id
    meters: dict[str, str]  # meter → Stripe meter id

    def line_items(self, plan: Plan, seats: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = [{"price": self.seat_prices[plan.code], "quantity": seats}]
        for meter in METERED:
            price = self.overage_prices.get((plan.code, meter))
            if price:
                items.append({"price": price})  # metered: no quantity, usage decides
        return items


def _seat_params(plan: Plan) -> dict[str, Any]:
    return {
        "currency": CURRENCY,
        "unit_amount": plan.seat_price_cents,
        "recurring": {"interval": "month", "usage_type": "licensed"},
        "nickname": f"{plan.name} seat",
    }


def _overage_params(plan: Plan, meter: str, meter_id: str) -> dict[str, Any]:
    cents = plan.overage_cents_per_1000[meter]
    return {
        "currency": CURRENCY,
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter_id},
        "billing_scheme": "tiered",
        "tiers_mode": "graduated",
        "tiers": [
            {"up_to": plan.included.get(meter, 0), "unit_amount": 0},
            {"up_to": "inf", "unit_amount_decimal": _decimal(cents / 1000)},
        ],
        "nickname": f"{plan.name} {METER_LABELS[meter]} over the included",
    }


def _decimal(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _same_price(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    recurring = existing.get("recurring") or {}
    if existing.get("currency") != wanted["currency"] or not existing.get("active", True):
        return False
    if recurring.get("usage_type") != wanted["recurring"]["usage_type"]:
        return False
    if wanted["recurring"]["usage_type"] == "licensed":
        return existing.get("unit_amount") == wanted["unit_amount"]
    if recurring.get("meter") != wanted["recurring"]["meter"]:
        return False
    tiers = existing.get("tiers") or []
    if len(tiers) != 2:
        return False
    included, over = tiers
    return (
        included.get("up_to") == wanted["tiers"][0]["up_to"]
        and not float(included.get("unit_amount_decimal") or included.get("unit_amount") or 0)
        and over.get("up_to") is None
        and float(over.get("unit_amount_decimal") or 0)
        == float(wanted["tiers"][1]["unit_amount_decimal"])
    )


def _prices_by_key(client: stripe.StripeClient, keys: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), 10):  # Stripe takes up to 10 lookup keys per request
        listed = client.v1.prices.list(
            params={"lookup_keys": keys[start : start + 10], "active": True, "limit": 100}
        )
        for price in listed.data:
            found[str(price.lookup_key)] = price.to_dict()
    return found


def read_catalog(client: stripe.StripeClient) -> Catalog | None:
    """The catalog's ids as Stripe has them now, or None when ``sync-plans`` has not run."""
    plans = paid_plans()
    keys = [seat_key(p) for p in plans] + [
        overage_key(p, m) for p in plans for m in METERED if m in p.overage_cents_per_1000
    ]
    prices = _prices_by_key(client, keys)
    if any(seat_key(p) not in prices for p in plans):
        return None
    meters = {
        m["event_name"]: m["id"]
        for m in (x.to_dict() for x in client.v1.billing.meters.list(params={"limit": 100}).data)
        if m.get("status") == "active"
    }
    return Catalog(
        seat_prices={p.code: prices[seat_key(p)]["id"] for p in plans},
        overage_prices={
            (p.code, m): prices[overage_key(p, m)]["id"]
            for p in plans
            for m in METERED
            if overage_key(p, m) in prices
        },
        meters={m: meters[event_name(m)] for m in METERED if event_name(m) in meters},
    )


def sync_catalog(client: stripe.StripeClient) -> SyncReport:
    """Create or update what Stripe lacks; a second run changes nothing."""
    report = SyncReport()
    meters = {
        m["event_name"]: m
        for m in (x.to_dict() for x in client.v1.billing.meters.list(params={"limit": 100}).data)
        if m.get("status") == "active"
    }
    meter_ids: dict[str, str] = {}
    for meter in METERED:
        name = event_name(meter)
        if name in meters:
            meter_ids[meter] = meters[name]["id"]
            report.unchanged += 1
            continue
        created = client.v1.billing.meters.create(
            params={
                "display_name": f"Rapport {METER_LABELS[meter]}",
                "event_name": name,
                "default_aggregation": {"formula": FORMULAS[meter]},
                "event_time_window": "hour",
                "customer_mapping": {"type": "by_id", "event_payload_key": "stripe_customer_id"},
                "value_settings": {"event_payload_key": "value"},
            }
        )
        meter_ids[meter] = created.id
        report.created.append(f"meter {name}")

    plans = paid_plans()
    wanted: dict[str, tuple[Plan, dict[str, Any]]] = {}
    for plan in plans:
        wanted[seat_key(plan)] = (plan, _seat_params(plan))
        for meter in METERED:
            if meter in plan.overage_cents_per_1000:
                wanted[overage_key(plan, meter)] = (
                    plan,
                    _overage_params(plan, meter, meter_ids[meter]),
                )
    existing = _prices_by_key(client, list(wanted))

    for plan in plans:
        name = f"Rapport {plan.name}"
        try:
            product = client.v1.products.retrieve(product_id(plan)).to_dict()
        except stripe.InvalidRequestError:
            client.v1.products.create(
                params={"id": product_id(plan), "name": name, "metadata": {"plan": plan.code}}
            )
            report.created.append(f"product {product_id(plan)}")
            continue
        if product.get("name") != name or not product.get("active", True):
            client.v1.products.update(product_id(plan), params={"name": name, "active": True})
            report.updated.append(f"product {product_id(plan)}")
        else:
            report.unchanged += 1

    for key, (plan, params) in wanted.items():
        current = existing.get(key)
        if current is not None and _same_price(current, params):
            report.unchanged += 1
            continue
        client.v1.prices.create(
            params={
                **params,
                "product": product_id(plan),
                "lookup_key": key,
                "transfer_lookup_key": current is not None,
                "metadata": {"plan": plan.code},
            }
        )
        if current is not None:
            client.v1.prices.update(current["id"], params={"active": False})
            report.updated.append(f"price {key}")
        else:
            report.created.append(f"price {key}")
    return report

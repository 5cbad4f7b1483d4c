"""The plan catalog, in code: what each plan costs, includes and allows.

Prices are in cents (USD) per billing period of one month. ``included`` is what a period includes
per meter; ``hard_caps`` is where the API refuses (402) until the tenant upgrades; ``None`` means
the meter is billed as overage and never refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Meters, in the order pages and reports show them.
METERS = ("api_calls", "workflow_runs", "emails", "records", "storage_mb")
METER_LABELS = {
    "api_calls": "API calls",
    "workflow_runs": "Workflow runs",
    "emails": "Emails sent",
    "records": "Stored records",
    "storage_mb": "File storage (MB)",
}
MODULES = ("sales", "leads", "activities", "api", "workflows", "imports", "custom_fields", "sso")
TRIAL_DAYS = 14
#: Share of an included quota at which the tenant is warned.
SOFT_LIMIT = 0.8


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    seat_price_cents: int
    included: Mapping[str, int]
    # Cents per 1,000 units over the included quantity; absent: no overage on that meter.
    overage_cents_per_1000: Mapping[str, int]
    modules: tuple[str, ...]
    api_rate_per_minute: int
    api_tenant_rate_per_minute: int
    hard_caps: Mapping[str, int | None] = field(default_factory=dict)
    self_serve: bool = True

    def hard_cap(self, meter: str) -> int | None:
        """Where this meter is refused in a period, or None when overage is billed instead."""
        return self.hard_caps.get(meter)

    def includes(self, module: str) -> bool:
        return module in self.modules


def _frozen(values: dict[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(values))


_TRIAL_INCLUDED = {
    "api_calls": 10_000,
    "workflow_runs": 500,
    "emails": 500,
    "records": 5_000,
    "storage_mb": 500,
}

PLANS: Mapping[str, Plan] = MappingProxyType(
    {
        "trial": Plan(
            code="trial",
            name="Free trial",
            seat_price_cents=0,
            included=_frozen(_TRIAL_INCLUDED),
            overage_cents_per_1000=_frozen({}),
            modules=("sales", "leads", "activities", "api", "workflows", "imports"),
            api_rate_per_minute=120,
            api_tenant_rate_per_minute=240,
            # A trial has no card on file: nothing beyond the included quantity.
            hard_caps=_frozen(_TRIAL_INCLUDED),
            self_serve=False,
        ),
        "starter": Plan(
            code="starter",
            name="Starter",
            seat_price_cents=1_500,
            included=_frozen(
                {
                    "api_calls": 50_000,
                    "workflow_runs": 2_000,
                    "emails": 2_000,
                    "records": 25_000,
                    "storage_mb": 5_000,
                }
            ),
            overage_cents_per_1000=_frozen(
                {"api_calls": 50, "workflow_runs": 500, "emails": 100, "records": 20}
            ),
            modules=("sales", "leads", "activities", "api", "imports"),
            api_rate_per_minute=300,
            api_tenant_rate_per_minute=600,
            hard_caps=_frozen({"api_calls": 500_000, "storage_mb": 5_000}),
        ),
        "growth": Plan(
            code="growth",
            name="Growth",
            seat_price_cents=4_500,
            included=_frozen(
                {
                    "api_calls": 500_000,
                    "workflow_runs": 20_000,
                    "emails": 20_000,
                    "records": 250_000,
                    "storage_mb": 50_000,
                }
            ),
            overage_cents_per_1000=_frozen(
                {"api_calls": 30, "workflow_runs": 300, "emails": 80, "records": 10}
            ),
            modules=(
                "sales",
                "leads",
                "activities",
                "api",
                "workflows",
                "imports",
                "custom_fields",
            ),  # fmt: skip
            api_rate_per_minute=600,
            api_tenant_rate_per_minute=1_200,
            hard_caps=_frozen({"api_calls": 5_000_000, "storage_mb": 50_000}),
        ),
        "enterprise": Plan(
            code="enterprise",
            name="Enterprise",
            seat_price_cents=9_900,
            included=_frozen(
                {
                    "api_calls": 5_000_000,
                    "workflow_runs": 200_000,
                    "emails": 200_000,
                    "records": 2_500_000,
                    "storage_mb": 500_000,
                }
            ),
            overage_cents_per_1000=_frozen(
                {"api_calls": 20, "workflow_runs": 200, "emails": 50, "records": 5, "storage_mb": 2}
            ),
            modules=MODULES,
            api_rate_per_minute=3_000,
            api_tenant_rate_per_minute=6_000,
            hard_caps=_frozen({}),
            self_serve=False,
        ),
    }
)


class UnknownPlan(ValueError):
    """No plan has this code."""


def get_plan(code: str) -> Plan:
    """The plan with this code; raise :class:`UnknownPlan` naming the known codes."""
    plan = PLANS.get(code)
    if plan is None:
        raise UnknownPlan(f"No plan {code!r}; choose one of: {', '.join(PLANS)}.")
    return plan


def plan_or_trial(code: str | None) -> Plan:
    """The plan with this code, falling back to the trial for codes the catalog no longer has."""
    return PLANS.get(code or "trial") or PLANS["trial"]

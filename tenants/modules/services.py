"""Which modules are on for the workspace, and switching them (audited)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.errors import PermissionDenied, ValidationFailed
from rapport.platform.tenancy.versions import TenantVersioned
from rapport.tenants import records
from rapport.tenants.modules.catalog import BY_KEY, CORE, MODULES, module_of_blueprint
from rapport.tenants.modules.models import ModuleSetting


def _load(session: Session) -> Mapping[str, bool]:
    return {row.key: row.enabled for row in session.scalars(select(ModuleSetting))}


_switches: TenantVersioned[Mapping[str, bool]] = TenantVersioned("modules", _load)


def in_plan(session: Session, key: str) -> bool:
    """Whether the workspace's plan includes the module."""
    from rapport.billing.access import load_subscription
    from rapport.billing.plans import PLANS

    subscription = load_subscription(session.info["tenant"].id)
    plan = PLANS.get(subscription.plan) if subscription is not None else None
    return plan is None or plan.includes(key)


def is_enabled(session: Session, key: str) -> bool:
    if key == CORE or key not in BY_KEY:
        return True
    return _switches.get(session).get(key, True) and in_plan(session, key)


def enabled(session: Session) -> frozenset[str]:
    return frozenset({CORE} | {m.key for m in MODULES if is_enabled(session, m.key)})


def module_of_endpoint(endpoint: str | None) -> str | None:
    """The module a view (``blueprint.function``) belongs to, if any."""
    if not endpoint or "." not in endpoint:
        return None
    return module_of_blueprint(endpoint.split(".", 1)[0])


def endpoint_enabled(session: Session, endpoint: str) -> bool:
    module = module_of_endpoint(endpoint)
    return module is None or is_enabled(session, module)


def record_types(session: Session) -> tuple[str, ...]:
    """The record types of the modules that are on."""
    on = enabled(session)
    return tuple(kind.name for kind in records.all_types() if kind.module in on)


def overview(session: Session) -> list[dict[str, object]]:
    """Every module with its switch and whether the plan includes it, for the admin page."""
    switches = _switches.get(session)
    return [
        {
            "key": m.key,
            "label": m.label,
            "description": m.description,
            "switched_on": switches.get(m.key, True),
            "in_plan": in_plan(session, m.key),
        }
        for m in MODULES
    ]


def switch(session: Session, key: str, on: bool) -> None:
    """Switch a module on or off for everybody; on only when the plan includes it."""
    if key not in BY_KEY:
        raise ValidationFailed({"module": ["There is no such module."]})
    if on and not in_plan(session, key):
        raise PermissionDenied(
            f"The plan does not include {BY_KEY[key].label}; upgrade to switch it on."
        )
    row = session.get(ModuleSetting, key)
    before = row.enabled if row is not None else True
    if before == on:
        return
    if row is None:
        row = ModuleSetting(key=key, enabled=on)
        session.add(row)
    else:
        row.enabled = on
    session.flush()
    audit.record(session, "module.switched", "module", None, {key: [before, on]})
    _switches.changed(session)

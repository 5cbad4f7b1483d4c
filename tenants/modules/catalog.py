"""The modules, declared once: what each contains, so every surface can make it disappear.

A module owns record types (``records.register(..., module=...)``), browser blueprints and API
blueprints. ``core`` (companies, contacts, settings) is always on.
"""

from __future__ import annotations

import dataclasses

CORE = "core"


@dataclasses.dataclass(frozen=True)
class Module:
    key: str
    label: str
    description: str
    blueprints: tuple[str, ...] = ()  # browser blueprints (their pages answer 404 when off)
    api_blueprints: tuple[str, ...] = ()  # smorest blueprints (routes and document entries)


MODULES = (
    Module(
        "sales",
        "Sales",
        "Deals, pipelines and the kanban board.",
        ("deals", "pipelines"),
        ("api_deals", "api_pipelines"),
    ),
    Module(
        "leads",
        "Leads",
        "Leads, the public capture form, assignment rules and conversion.",
        ("leads", "lead_forms"),
        ("api_leads",),
    ),
    Module(
        "activities",
        "Activities and visits",
        "Tasks, calls, meetings, the calendar, reminders and visit plans.",
        ("activities", "visits"),
        ("api_activities", "api_visits"),
    ),
    Module(
        "workflows",
        "Workflows",
        "Automations that run when records are created or changed.",
        ("workflows",),
        ("api_workflows",),
    ),
    Module(
        "imports",
        "Imports",
        "Importing records from CSV and Excel files.",
        ("imports",),
    ),
)

BY_KEY = {module.key: module for module in MODULES}
_BLUEPRINT = {bp: m.key for m in MODULES for bp in m.blueprints}
_API_BLUEPRINT = {bp: m.key for m in MODULES for bp in m.api_blueprints}


def module_of_blueprint(name: str | None) -> str | None:
    if not name:
        return None
    return _BLUEPRINT.get(name) or _API_BLUEPRINT.get(name)

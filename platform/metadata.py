"""The complete metadata of each plane: importing every model module so none is missed."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from rapport.platform.db import ControlBase, TenantBase

CONTROL_MODELS = (
    "rapport.platform.tenancy.models",
    "rapport.platform.identity.models",
    "rapport.platform.identity.sessions",
    "rapport.platform.audit.models",
    "rapport.platform.jobs.models",
    "rapport.platform.apikeys.models",
    "rapport.billing.models",
)

TENANT_MODELS = (
    "rapport.platform.audit.models",
    "rapport.platform.jobs.models",
    "rapport.tenants.companies.models",
    "rapport.tenants.contacts.models",
    "rapport.tenants.pipelines.models",
    "rapport.tenants.deals.models",
    "rapport.tenants.fields.models",
    "rapport.tenants.teams.models",
    "rapport.tenants.leads.models",
    "rapport.tenants.activities.models",
    "rapport.tenants.visits.models",
    "rapport.tenants.notes.models",
    "rapport.tenants.search.models",
    "rapport.tenants.views.models",
    "rapport.tenants.webhooks.models",
    "rapport.tenants.idempotency.models",
    "rapport.tenants.picklists.models",
    "rapport.tenants.roles.models",
    "rapport.tenants.modules.models",
    "rapport.billing.levels",
    "rapport.tenants.workflows.models",
    "rapport.tenants.imports.models",
)


def control_metadata() -> MetaData:
    for name in CONTROL_MODELS:
        importlib.import_module(name)
    return ControlBase.metadata


def tenant_metadata() -> MetaData:
    for name in TENANT_MODELS:
        importlib.import_module(name)
    return TenantBase.metadata

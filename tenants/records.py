"""The customizable record types, declared once each, so every surface follows.

A feature makes its records customizable by registering them next to the model::

    records.register(Company, "companies", label="Companies", singular="company",
                     components=("Company", "CompanyInput"))

Custom fields (definitions, validation, filters, indexes), the admin screens and the tenant's
OpenAPI document all read this registry; none of them names a record type.
Registration happens when the model module is imported, and every tenant model module is imported
by :func:`rapport.platform.metadata.tenant_metadata`, which the lookups below call first.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import inspect

#: Names a custom field's API name may never take, whatever the record type.
RESERVED = frozenset({"id", "created_at", "updated_at", "custom", "owner_id"}) | frozenset(
    {"q", "sort", "cursor", "limit", "view", "format", "fields"}
)


@dataclasses.dataclass(frozen=True)
class RecordType:
    name: str  # the plural key used in URLs, field definitions and the API: "companies"
    model: Any
    label: str  # "Companies"
    singular: str  # the audit target type: "company"
    components: tuple[str, str] | None  # OpenAPI component names (output, input), if any
    module: str  # the tenant module that owns it (modules can be switched off)
    #: Built-in fields whose values come from a tenant picklist: field → list key.
    picked: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def table(self) -> str:
        return self.model.__table__.name

    @property
    def writer(self) -> Writer:
        """The feature's service functions for this record type (every write path goes through
        them, so web, API, import and workflows validate alike)."""
        return _writer(self)

    @property
    def built_in(self) -> frozenset[str]:
        """Names already taken on this record: its columns, relationships and reserved words."""
        mapper = inspect(self.model)
        return frozenset(mapper.attrs.keys()) | RESERVED


_registry: dict[str, RecordType] = {}


def register(
    model: Any,
    name: str,
    *,
    label: str,
    singular: str,
    components: tuple[str, str] | None = None,
    module: str = "sales",
    picked: Mapping[str, str] | None = None,
) -> RecordType:
    """Declare ``model`` a customizable record type (idempotent for the same model)."""
    existing = _registry.get(name)
    if existing is not None and existing.model is not model:
        raise ValueError(f"record type {name!r} is already registered for {existing.model}")
    kind = RecordType(name, model, label, singular, components, module, dict(picked or {}))
    _registry[name] = kind
    return kind


_imported = False


def _loaded() -> dict[str, RecordType]:
    global _imported
    if not _imported:  # importing every model module again costs on each API request
        from rapport.platform.metadata import tenant_metadata

        tenant_metadata()
        _imported = True
    return _registry


def all_types() -> tuple[RecordType, ...]:
    """Every customizable record type, in registration order."""
    return tuple(_loaded().values())


def names() -> tuple[str, ...]:
    return tuple(_loaded())


def labels() -> dict[str, str]:
    return {kind.name: kind.label for kind in _loaded().values()}


def get(name: str) -> RecordType:
    """The record type called ``name``; KeyError if there is none."""
    return _loaded()[name]


def exists(name: str) -> bool:
    return name in _loaded()


def for_model(model: type) -> RecordType | None:
    """The record type whose model is ``model`` (or a subclass of it), if any."""
    by_model = _by_model()
    found = by_model.get(model)
    if found is None and model not in by_model:
        found = next((k for m, k in by_model.items() if issubclass(model, m)), None)
    return found


def _by_model() -> dict[type, RecordType]:
    # Asked for every object of every flush: rebuilt only when a record type was registered.
    registry = _loaded()
    if len(_models) != len(registry):
        _models.clear()
        _models.update({kind.model: kind for kind in registry.values()})
    return _models


_models: dict[type, RecordType] = {}


@dataclasses.dataclass(frozen=True)
class Writer:
    """A record type's services, found by the feature's naming (``create_<singular>`` ...)::

    kind.writer.create(session, data)                        # ValidationFailed names fields
    kind.writer.update(session, record_id, data, partial=True)
    kind.writer.delete(session, record_id)
    kind.writer.get(session, record_id)                       # NotFound if invisible
    """

    create: Callable[..., Any]
    update: Callable[..., Any]
    delete: Callable[..., Any]
    get: Callable[..., Any]


_writers: dict[str, Writer] = {}


def _writer(kind: RecordType) -> Writer:
    found = _writers.get(kind.name)
    if found is None:
        package = kind.model.__module__.rpartition(".")[0]  # rapport.tenants.contacts
        services = importlib.import_module(f"{package}.services")
        queries = importlib.import_module(f"{package}.queries")
        found = Writer(
            create=getattr(services, f"create_{kind.singular}"),
            update=getattr(services, f"update_{kind.singular}"),
            delete=getattr(services, f"delete_{kind.singular}"),
            get=getattr(queries, f"get_{kind.singular}"),
        )
        _writers[kind.name] = found
    return found

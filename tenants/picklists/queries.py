"""Reading picklist options through the per-tenant versioned cache (fresh across processes)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.platform.db import get_or_not_found
from rapport.platform.tenancy.versions import TenantVersioned
from rapport.tenants.picklists.models import PicklistOption


@dataclass(frozen=True)
class Option:
    """A detached, immutable copy of an option (safe to share between sessions and threads)."""

    id: uuid.UUID
    list_key: str
    value: str
    label: str
    position: int
    colour: str | None
    meaning: str | None
    retired: bool


def _freeze(row: PicklistOption) -> Option:
    return Option(
        row.id, row.list_key, row.value, row.label, row.position, row.colour, row.meaning,
        row.retired_at is not None,
    )  # fmt: skip


def _load_all(session: Session) -> dict[str, tuple[Option, ...]]:
    # Read through CACHE, which loads without autoflush (see TenantVersioned).
    rows = session.scalars(
        select(PicklistOption).order_by(
            PicklistOption.list_key, PicklistOption.position, PicklistOption.created_at
        )
    )
    found: dict[str, list[Option]] = {}
    for row in rows:
        found.setdefault(row.list_key, []).append(_freeze(row))
    return {key: tuple(options) for key, options in found.items()}


#: Every option of the tenant by list key, retired included.
CACHE: TenantVersioned[dict[str, tuple[Option, ...]]] = TenantVersioned("picklists", _load_all)


def changed(session: Session) -> None:
    """Note that this session changed options: it reads them afresh, and after the commit every
    process reloads them."""
    CACHE.changed(session)


def all_options(session: Session) -> dict[str, tuple[Option, ...]]:
    """Every list of the session's tenant, seeding the lists it does not have yet (a list added
    to the code after the workspace was made; t0006 seeded the lists of its time)."""
    found = CACHE.get(session)
    from rapport.tenants.picklists.lists import LISTS

    if any(key not in found for key in LISTS):
        from rapport.tenants.picklists.services import seed

        seed(session)
        found = CACHE.get(session)
    return found


def options(session: Session, list_key: str, *, retired: bool = False) -> list[Option]:
    """The list's options in order; retired ones only when asked."""
    return [o for o in all_options(session)[list_key] if retired or not o.retired]


def choices(session: Session, list_key: str, current: Any = None) -> list[Option]:
    """What a form offers: the current options, plus ``current`` when a record holds a retired
    one (it stays on the record and shows until someone picks another)."""
    every = all_options(session)[list_key]
    return [o for o in every if not o.retired or (current is not None and o.value == current)]


def find(session: Session, list_key: str, value: Any) -> Option | None:
    """The option stored as ``value`` (retired included), or None."""
    for option in all_options(session)[list_key]:
        if option.value == value:
            return option
    return None


def label(session: Session, list_key: str, value: Any) -> str:
    """What people see for a stored value: its label; an unknown value shows as itself."""
    if value is None or value == "":
        return ""
    option = find(session, list_key, value)
    return option.label if option else str(value)


def labels(session: Session, list_key: str) -> dict[str, str]:
    """Stored value -> label for the whole list (retired included)."""
    return {o.value: o.label for o in all_options(session)[list_key]}


def with_meaning(session: Session, list_key: str, *meanings: str) -> list[str]:
    """The values (retired included) whose meaning is one of ``meanings``."""
    return [o.value for o in all_options(session)[list_key] if o.meaning in meanings]


def get_option(session: Session, option_id: uuid.UUID | str) -> PicklistOption:
    """The option row with this id, or NotFound."""
    return get_or_not_found(session, PicklistOption, option_id, "option")


def pairs(
    session: Session, list_key: str, current: Any = None, *, retired: bool = False
) -> list[tuple[str, str]]:
    """(value, label) for a select: the current options (and ``current`` when a record holds a
    retired one); with ``retired``, every option (list filters: records keep retired values)."""
    found = all_options(session)[list_key] if retired else choices(session, list_key, current)
    return [(o.value, o.label) for o in found]

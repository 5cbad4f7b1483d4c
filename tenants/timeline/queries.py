"""One timeline from every source: merged newest first, filtered by kind, cut at a limit."""

from __future__ import annotations

import datetime as dt
import importlib
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from types import ModuleType

from sqlalchemy.orm import Session

from rapport.tenants.timeline import SOURCE_MODULES, Entry

DEFAULT_LIMIT = 20
MAX_LIMIT = 500
# A source that yields several kinds is asked for more when only some kinds are shown, so that
# the kinds asked for are not crowded out of its newest entries by the others.
_FILTER_FACTOR = 5


@dataclass
class Timeline:
    entries: list[Entry]
    more: bool  # older entries exist beyond the limit
    limit: int
    kinds: dict[str, str] = field(default_factory=dict)  # every kind a timeline can show
    selected: list[str] = field(default_factory=list)  # the kinds shown (empty: all)


def sources() -> list[ModuleType]:
    return [importlib.import_module(name) for name in SOURCE_MODULES]


def all_kinds() -> dict[str, str]:
    """kind → label over every source, in source order."""
    kinds: dict[str, str] = {}
    for module in sources():
        kinds.update(getattr(module, "KINDS", {}))
    return kinds


def _sort_key(entry: Entry) -> dt.datetime:
    at = entry.at
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def timeline(
    session: Session,
    target_type: str,
    target_id: uuid.UUID,
    *,
    kinds: Collection[str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Timeline:
    """The newest ``limit`` entries about a record, of the given kinds (all when empty)."""
    limit = max(1, min(limit, MAX_LIMIT))
    known = all_kinds()
    selected = [k for k in (kinds or ()) if k in known]
    merged: list[Entry] = []
    for module in sources():
        offered = set(getattr(module, "KINDS", {}))
        if selected and not offered & set(selected):
            continue
        ask = limit + 1
        if selected and offered - set(selected):
            ask *= _FILTER_FACTOR
        found = module.entries(session, target_type, target_id, limit=ask)
        merged.extend(e for e in found if not selected or e.kind in selected)
    merged.sort(key=_sort_key, reverse=True)
    return Timeline(
        entries=merged[:limit],
        more=len(merged) > limit,
        limit=limit,
        kinds=known,
        selected=selected,
    )

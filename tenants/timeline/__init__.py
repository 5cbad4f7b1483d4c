"""One chronological timeline of everything that touched a record.

Each kind of thing that can appear on a timeline lives in its own feature and is read by a source
module listed in :data:`SOURCE_MODULES`. A source module exposes::

    KINDS: dict[str, str]   # the kinds it yields, with their labels ("note": "Notes")

    def entries(session, target_type, target_id, *, limit) -> list[Entry]:
        '''The newest ``limit`` entries about one record, any order.'''

``target_type`` is a record type name from :mod:`rapport.tenants.records` ("companies",
"contacts", "deals", "leads"). Sources read through the caller's tenant session, so the tenant's
schema and role bound what they can see.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

#: The modules that feed timelines, in no particular order.
SOURCE_MODULES = (
    "rapport.tenants.timeline.sources",
    "rapport.tenants.activities.timeline",
    "rapport.tenants.notes.timeline",
)


@dataclasses.dataclass(frozen=True)
class Entry:
    at: dt.datetime  # when it happened (UTC)
    kind: str  # one of its source's KINDS: "activity", "note", "attachment", "stage", "change"…
    title: str  # one line: "Call with Li Wei: interested"
    body: str | None = None  # plain text shown under the title (never HTML)
    actor: str | None = None  # who did it, as a label
    url: str | None = None  # where to open it, if it has its own page
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

"""What each record type puts in the search index: a title, a subtitle and the searched text.

A record type is searchable when it has a builder here. Leads are built by another feature that
may not be installed; its builder is added when its model module defines ``Lead``.
"""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

from rapport.tenants.search import tokens as tok


@dataclass(frozen=True)
class Document:
    record_type: str  # the record type name of rapport.tenants.records: "companies"…
    record_id: uuid.UUID
    title: str
    subtitle: str | None
    texts: tuple[str | None, ...]
    owner_id: uuid.UUID | None = None  # whose record: roles that see only some owners filter on it

    def row(self) -> dict[str, Any]:
        """The index row's values."""
        title = (self.title or "").strip()[:300] or "(no name)"
        return {
            "record_type": self.record_type,
            "record_id": self.record_id,
            "owner_id": self.owner_id,
            "title": title,
            "subtitle": (self.subtitle or None) and self.subtitle[:300],
            "title_key": tok.match_key(title),
            "tokens": tok.document_tokens((title, *self.texts)),
        }


def _digits(phone: str | None) -> str | None:
    """A phone number's digits as one word, so "+1 555-0100" is found by "15550100"."""
    digits = re.sub(r"\D", "", phone or "")
    return digits or None


#: Per record type, the fields left out of the index, built-in and custom: those some role of the
#: tenant may not see (a search must not find a record by what it hides, nor show it in a hit's
#: subtitle). Set by the index around the documents it builds (:func:`leaving_out`). A record's
#: title (its name) is always kept: it is how a hit is recognised.
_UNSEARCHABLE: ContextVar[Mapping[str, frozenset[str]] | None] = ContextVar(
    "unsearchable", default=None
)


@contextmanager
def leaving_out(fields: Mapping[str, frozenset[str]]) -> Iterator[None]:
    """Build documents without these fields (record type → field and custom API names)."""
    token = _UNSEARCHABLE.set(fields)
    try:
        yield
    finally:
        _UNSEARCHABLE.reset(token)


def unsearchable(record_type: str) -> frozenset[str]:
    """The fields of ``record_type`` the documents being built leave out."""
    return (_UNSEARCHABLE.get() or {}).get(record_type, frozenset())


def _reader(record: Any, record_type: str) -> Callable[[str], Any]:
    """``read(name)``: a built-in field's value for the index, None when some role hides it."""
    left_out = unsearchable(record_type)
    return lambda name: None if name in left_out else getattr(record, name)


def _custom_texts(custom: dict[str, Any] | None, record_type: str) -> list[str]:
    """The text in custom field values (strings, and strings in multi-select lists)."""
    left_out = unsearchable(record_type)
    texts: list[str] = []
    for name, value in (custom or {}).items():
        if name in left_out:
            continue
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list):
            texts.extend(v for v in value if isinstance(v, str))
    return texts


def _join(parts: Iterable[str | None]) -> str | None:
    return " · ".join(p for p in parts if p) or None


def _name(first: str | None, last: str | None) -> str:
    return " ".join(p for p in (first, last) if p)


def company_document(c: Any) -> Document:
    read = _reader(c, "companies")
    return Document(
        "companies", c.id, c.name, _join((read("domain"), read("city"), read("industry"))),
        (read("domain"), read("website"), read("city"), read("industry"), read("phone"),
         _digits(read("phone")), *_custom_texts(c.custom, "companies")), c.owner_id,
    )  # fmt: skip


def contact_document(c: Any) -> Document:
    read = _reader(c, "contacts")
    return Document(
        "contacts", c.id, _name(c.first_name, c.last_name), _join((read("title"), read("email"))),
        (c.first_name, c.last_name, read("email"), read("title"), read("phone"),
         _digits(read("phone")), *_custom_texts(c.custom, "contacts")), c.owner_id,
    )  # fmt: skip


def deal_document(d: Any) -> Document:
    texts = tuple(_custom_texts(d.custom, "deals"))
    return Document("deals", d.id, d.name, None, texts, d.owner_id)


def lead_document(lead: Any) -> Document:
    read = _reader(lead, "leads")
    person = _name(lead.first_name, lead.last_name)
    title = person or lead.company_name or read("email") or ""
    return Document(
        "leads", lead.id, title,
        _join((lead.company_name if person else None, read("title"), read("email"))),
        (lead.first_name, lead.last_name, lead.company_name, read("title"), read("email"),
         read("phone"), _digits(read("phone")), read("city"), read("website"), read("industry"),
         *_custom_texts(lead.custom, "leads")), lead.owner_id,
    )  # fmt: skip


Builder = Callable[[Any], Document]

#: (model module, model class, record type, builder), in the order results are grouped.
_BUILT_IN = (
    ("rapport.tenants.companies.models", "Company", "companies", company_document),
    ("rapport.tenants.contacts.models", "Contact", "contacts", contact_document),
    ("rapport.tenants.leads.models", "Lead", "leads", lead_document),
    ("rapport.tenants.deals.models", "Deal", "deals", deal_document),
)


@cache
def _installed() -> tuple[tuple[type, str, Builder], ...]:
    found = []
    for module_name, class_name, record_type, builder in _BUILT_IN:
        model = getattr(importlib.import_module(module_name), class_name, None)
        if model is not None:
            found.append((model, record_type, builder))
    return tuple(found)


def builders() -> dict[type, Builder]:
    """Model class → its document builder, for the types whose model exists."""
    return {model: builder for model, _name, builder in _installed()}


def searchable_types() -> dict[str, type]:
    """Record type name → model, in the order results are grouped."""
    return {name: model for model, name, _builder in _installed()}

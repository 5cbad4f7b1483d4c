"""Which field each column goes into, and turning one row's cells into the writer's input.

The fields offered are those a person could type into the record's form: its built-in input
fields and its custom fields, less calculated ones and those the importing member's role hides
or makes read only. Relations are given by what people know, not by ids: a company by its name,
an owner by their email, a team, pipeline or stage by its name, a picklist option by its value or
its label. A value that cannot be resolved is left for the record's service to refuse, so the
message is the one the form would show; only a relation that matches nothing (or several
records) is refused here, naming the field.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import uuid
from collections.abc import Sequence
from typing import Any

from marshmallow import fields as ma
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.tenants import records
from rapport.tenants.fields import lookup
from rapport.tenants.fields.queries import Field, fields_for
from rapport.tenants.roles import access
from rapport.tenants.roles.fields import built_in, label_of

CUSTOM = "custom."
#: Built-in fields given by a related record's name (or a member's email): field -> what it is.
RELATIONS = {
    "owner_id": "member",
    "company_id": "company",
    "parent_id": "company",
    "team_id": "team",
    "pipeline_id": "pipeline",
    "stage_id": "stage",
}
#: Headings people use for a field (compared normalised): candidates, the first offered wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "firstname": ("first_name",), "given_name": ("first_name",), "forename": ("first_name",),
    "lastname": ("last_name",), "surname": ("last_name",), "family_name": ("last_name",),
    "name": ("last_name",), "full_name": ("last_name",),
    "company": ("company_name", "company_id"), "company_name": ("company_name", "company_id"),
    "organization": ("company_name", "company_id"), "organisation": ("company_name", "company_id"),
    "account": ("company_id", "company_name"), "account_name": ("company_id", "company_name"),
    "parent": ("parent_id",), "parent_company": ("parent_id",),
    "job_title": ("title",), "position": ("title",),
    "e_mail": ("email",), "email_address": ("email",), "mail": ("email",),
    "telephone": ("phone",), "phone_number": ("phone",), "mobile": ("phone",), "tel": ("phone",),
    "url": ("website",), "web": ("website",), "homepage": ("website",), "web_site": ("website",),
    "state": ("region",), "province": ("region",), "county": ("region",),
    "zip": ("postal_code",), "zip_code": ("postal_code",), "postcode": ("postal_code",),
    "address": ("street",), "country_code": ("country",),
    "notes": ("description", "notes"), "message": ("description", "notes"),
    "description": ("description", "notes"), "comments": ("description", "notes"),
    "owner": ("owner_id",), "owner_email": ("owner_id",), "assigned_to": ("owner_id",),
    "deal": ("name",), "deal_name": ("name",), "value": ("amount",),
    "close_date": ("expected_close_date",), "expected_close": ("expected_close_date",),
    "type": ("kind",), "activity_type": ("kind",), "due": ("due_at",), "due_date": ("due_at",),
    "start": ("due_at",), "end": ("ends_at",), "title_of_activity": ("subject",),
    "lead_source": ("source",), "lead_status": ("status",),
}  # fmt: skip
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00$")


@dataclasses.dataclass(frozen=True)
class Target:
    """A field a column can go into."""

    name: str  # the writer's key: "last_name", or "custom.<api_name>" for a custom field
    label: str
    required: bool = False
    kind: str = "text"  # text, number, date, flag, relation, or "custom"
    custom: Field | None = None
    picklist: str | None = None  # the tenant picklist feeding a built-in field


def normalise(heading: str) -> str:
    """Compare headings ignoring case, spaces, dashes and underscores: "E-mail Address" and
    "email_address" are both ``emailaddress``."""
    return re.sub(r"[\W_]+", "", heading.casefold())


def _schema(kind: records.RecordType) -> Any:
    """The feature's input schema (``<Model>Schema`` in its schemas module), if it has one."""
    package = kind.model.__module__.rpartition(".")[0]
    try:
        module = importlib.import_module(f"{package}.schemas")
    except ImportError:
        return None
    schema = getattr(module, f"{kind.model.__name__}Schema", None)
    return schema() if schema is not None else None


def _kind_of(field: Any) -> str:
    if isinstance(field, ma.UUID):
        return "relation"
    if isinstance(field, ma.Number):
        return "number"
    if isinstance(field, ma.Date | ma.DateTime):
        return "date"
    if isinstance(field, ma.Boolean):
        return "flag"
    return "text"


def targets(session: Session, record_type: str) -> list[Target]:
    """The fields of ``record_type`` the session's member may import into, in form order."""
    kind = records.get(record_type)
    schema = _schema(kind)
    inputs = schema.load_fields if schema is not None else {}
    barred = access.hidden(session, record_type) | access.read_only(session, record_type)
    offered: list[Target] = []
    for name in built_in(record_type):
        field = inputs.get(name)
        if name in barred or (schema is not None and field is None):
            continue
        what = _kind_of(field) if field is not None else "text"
        if what == "relation" and name not in RELATIONS:
            continue  # an id nobody can type
        offered.append(
            Target(name, label_of(name), bool(field is not None and field.required), what,
                   picklist=kind.picked.get(name))
        )  # fmt: skip
    for custom in fields_for(session, record_type):
        if custom.computed or custom.api_name in barred:
            continue
        required = custom.required and custom.default is None
        offered.append(Target(CUSTOM + custom.api_name, custom.label, required, "custom", custom))
    return offered


def _aliases() -> dict[str, tuple[str, ...]]:
    return {normalise(heading): names for heading, names in ALIASES.items()}


def suggest(headings: Sequence[str], offered: Sequence[Target]) -> list[str | None]:
    """A field for each heading (None: don't import), each field at most once."""
    by_key: dict[str, str] = {}
    for target in offered:
        by_key.setdefault(normalise(target.name), target.name)
        by_key.setdefault(normalise(target.label), target.name)
        if target.custom is not None:
            by_key.setdefault(normalise(target.custom.api_name), target.name)
    names = {t.name for t in offered}
    aliases = _aliases()
    taken: set[str] = set()
    result: list[str | None] = []
    for heading in headings:
        key = normalise(heading)
        candidates = [by_key.get(key), *aliases.get(key, ())]
        found = next((c for c in candidates if c in names and c not in taken), None)
        if found is not None:
            taken.add(found)
        result.append(found)
    return result


def check(
    headings: Sequence[str], mapping: Sequence[str | None], offered: Sequence[Target]
) -> tuple[dict[str, list[str]], list[str]]:
    """Errors (keyed ``column-<n>``) and warnings about a mapping.

    A required field no column feeds is a warning, not an error: a default or another field may
    stand in for it (a lead needs a last name *or* a company), and where none does, every row
    fails with the form's own message in the preview, before anything is written.
    """
    by_name = {t.name: t for t in offered}
    errors: dict[str, list[str]] = {}
    first: dict[str, str] = {}
    for index, (heading, name) in enumerate(zip(headings, mapping, strict=True)):
        if not name:
            continue
        target = by_name.get(name)
        if target is None:
            errors[f"column-{index}"] = [
                "Your role may not import into this field; choose another."
            ]
        elif name in first:
            errors[f"column-{index}"] = [
                f"Column “{first[name]}” already goes into {target.label}; choose another field "
                "or don't import this column."
            ]
        else:
            first[name] = heading
    if not first and not errors:
        errors["_form"] = ["Choose a field for at least one column."]
    warnings = [
        f"No column goes into {t.label}, which is required: rows without it will not be imported."
        for t in offered
        if t.required and t.name not in first
    ]
    return errors, warnings


# -- one row -------------------------------------------------------------------------------------
def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> Any:
    """Text for a text field: a number the spreadsheet typed as one reads as written."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return value


def _date(value: Any) -> Any:
    if isinstance(value, str) and _DATE_ONLY.match(value):
        return value[:10]
    return value


class Converter:
    """Turns a row's cells into ``kind.writer.create`` input, resolving relations by name.

    Look-ups are cached for the converter's life (one preview, or one chunk of a run).
    """

    def __init__(
        self, session: Session, record_type: str, offered: Sequence[Target],
        mapping: Sequence[str | None],
    ) -> None:  # fmt: skip
        self.session = session
        self.kind = records.get(record_type)
        by_name = {t.name: t for t in offered}
        self.columns = [(i, by_name[n]) for i, n in enumerate(mapping) if n and n in by_name]
        self._cache: dict[tuple[str, str], Any] = {}
        self._members: dict[str, uuid.UUID] | None = None

    def row(self, cells: Sequence[Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The writer's input for one row, and the relation errors found on the way."""
        data: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        stage_name: Any = None
        for index, target in self.columns:
            value = cells[index] if index < len(cells) else None
            if _blank(value):
                continue
            if target.custom is not None:
                custom[target.custom.api_name] = self._custom(target.custom, value)
            elif target.name == "stage_id":
                stage_name = value  # needs the row's pipeline: resolved below
            elif target.kind == "relation":
                try:
                    data[target.name] = self._relation(target, value)
                except LookupError as exc:
                    errors[target.name] = [str(exc)]
            elif target.picklist:
                data[target.name] = self._option(target.picklist, _text(value))
            elif target.kind == "text":
                data[target.name] = _text(value)
            elif target.kind == "date":
                data[target.name] = _date(value)
            elif target.kind == "flag" and isinstance(value, str):
                data[target.name] = value.strip().lower()  # "Yes", "TRUE" as the form's "yes"
            else:
                data[target.name] = value
        if stage_name is not None:
            try:
                data["stage_id"] = self._stage(data.get("pipeline_id"), _text(stage_name))
            except LookupError as exc:
                errors["stage_id"] = [str(exc)]
        if custom:
            data["custom"] = custom
        return data, errors

    # -- relations ----------------------------------------------------------------------------
    def _relation(self, target: Target, value: Any) -> str:
        what = RELATIONS[target.name]
        text = str(_text(value)).strip()
        if what == "member":
            return str(self._member(text))
        key = (what, text.casefold())
        if key not in self._cache:
            self._cache[key] = self._lookup(what, text)
        return str(self._cache[key])

    def _member(self, email: str) -> uuid.UUID:
        if self._members is None:
            from rapport.platform.identity.members import members_of

            tenant_id = self.session.info["tenant"].id
            self._members = {u.email.casefold(): u.id for _m, u in members_of(tenant_id)}
        found = self._members.get(email.casefold())
        if found is None:
            raise LookupError(f"No member of this workspace has the email address “{email}”.")
        return found

    def _lookup(self, what: str, name: str) -> uuid.UUID:
        from rapport.tenants.companies.models import Company
        from rapport.tenants.pipelines.models import Pipeline
        from rapport.tenants.teams.models import Team

        model, column, noun, nouns = {
            "company": (Company, Company.name, "company", "companies"),
            "team": (Team, Team.name, "team", "teams"),
            "pipeline": (Pipeline, Pipeline.name, "pipeline", "pipelines"),
        }[what]
        stmt = select(model.id).where(column == name)
        if what == "pipeline":
            stmt = stmt.where(Pipeline.archived_at.is_(None))
        found = list(self.session.scalars(stmt.limit(2)))
        if not found:
            raise LookupError(f"No {noun} is named “{name}”.")
        if len(found) > 1:
            raise LookupError(
                f"Several {nouns} are named “{name}”; rename one, or link this record by hand "
                "after the import."
            )
        return found[0]

    def _stage(self, pipeline_id: str | None, name: str) -> str:
        from rapport.tenants.pipelines import queries as pipelines

        if pipeline_id is None:
            default = pipelines.default_pipeline(self.session)
            if default is None:
                raise LookupError("There is no pipeline to put the deal in.")
            pipeline = default
        else:
            pipeline = pipelines.get_pipeline(self.session, pipeline_id)
        key = ("stage", f"{pipeline.id}:{name.casefold()}")
        if key not in self._cache:
            stages = [
                s for s in pipelines.pipeline_stages(self.session, pipeline.id)
                if s.name.casefold() == name.casefold()
            ]  # fmt: skip
            if not stages:
                raise LookupError(f"The pipeline “{pipeline.name}” has no stage named “{name}”.")
            self._cache[key] = stages[0].id
        return str(self._cache[key])

    # -- values -------------------------------------------------------------------------------
    def _option(self, list_key: str, value: Any) -> Any:
        from rapport.tenants.picklists.queries import all_options

        if not isinstance(value, str):
            return value
        wanted = value.strip().casefold()
        for option in all_options(self.session).get(list_key, ()):
            if wanted in (option.value.casefold(), option.label.casefold()):
                return option.value
        return value  # the service refuses it with its own message

    def _custom(self, field: Field, value: Any) -> Any:
        kind = field.type
        if kind in ("single_select", "multi_select"):
            items = _split(value) if kind == "multi_select" else [_text(value)]
            chosen = [_custom_option(field, item) for item in items]
            return chosen if kind == "multi_select" else chosen[0]
        if kind == "lookup" and isinstance(value, str) and lookup.as_id(value) is None:
            # A spreadsheet names the record; the one visible record of that name, else the
            # field's own rule refuses the text.
            return lookup.resolve(self.session, lookup.target_of(field), value) or value
        if kind == "user" and isinstance(value, str) and "@" in value:
            try:
                return str(self._member(value.strip()))
            except LookupError:
                return value  # the field's own rule refuses it
        if kind in ("integer", "decimal", "percent", "checkbox"):
            return value
        if kind in ("date", "datetime"):
            return _date(value) if kind == "date" else value
        return _text(value)


def _split(value: Any) -> list[Any]:
    if not isinstance(value, str):
        return [_text(value)]
    separator = ";" if ";" in value else ","
    return [part.strip() for part in value.split(separator) if part.strip()]


def _custom_option(field: Field, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    wanted = value.strip().casefold()
    for option in field.options:
        label = str(option.get("label") or option["value"])
        if wanted in (str(option["value"]).casefold(), label.casefold()):
            return option["value"]
    return value

"""Custom fields through the services: every type, the rules, uniqueness, filters, both tenants."""

from __future__ import annotations

import secrets
import threading

import pytest
from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import queries as company_queries
from rapport.tenants.companies import services as companies
from rapport.tenants.contacts import services as contacts
from rapport.tenants.fields import indexes
from rapport.tenants.fields import services as fields
from rapport.tenants.fields.queries import fields_for


def name(prefix: str = "f") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def create(app, tenant, custom, record="companies", **extra):
    with app.app_context(), tenant_session(tenant.ref) as s:
        if record == "contacts":
            return contacts.create_contact(s, {"last_name": name("L"), "custom": custom, **extra})
        return companies.create_company(s, {"name": name("Co"), "custom": custom, **extra})


def errors_of(app, tenant, custom, record="companies") -> dict:
    with pytest.raises(ValidationFailed) as caught:
        create(app, tenant, custom, record)
    return caught.value.errors


# fmt: off
CASES = [
    ("text", {}, "  hello ", "hello", 123.5, None),
    ("long_text", {}, "line one\nline two", "line one\nline two", {"x": 1}, None),
    ("integer", {}, "42", 42, "4.5", "whole number"),
    ("decimal", {}, "12.50", "12.5", "twelve", "number"),
    ("percent", {}, 12.5, "12.5", "abc", "number"),
    ("currency", {}, {"amount": "1250", "currency": "eur"},
     {"amount": "1250.00", "currency": "EUR"}, {"amount": "1", "currency": "XXQ"}, "ISO 4217"),
    ("date", {}, "2026-06-30", "2026-06-30", "30/06/2026", "date"),
    ("datetime", {}, "2026-06-30T14:00:00+02:00", "2026-06-30T12:00:00Z", "tomorrow",
     "date and time"),
    ("checkbox", {}, "on", True, "maybe", "Tick"),
    ("single_select", {"options": [{"value": "gold"}, {"value": "silver"}]}, "gold", "gold",
     "bronze", "options"),
    ("multi_select", {"options": "a | A\nb | B"}, ["a", "b"], ["a", "b"], ["a", "z"], "options"),
    ("email", {}, "Ada@Example.COM", "Ada@example.com", "not-an-email", "email"),
    ("phone", {}, "+49 30 1234567", "+49 30 1234567", "call me", "phone"),
    ("url", {}, "example.com", "https://example.com", "http://", "web address"),
]
# fmt: on


@pytest.mark.parametrize(("kind", "extra", "good", "stored", "bad", "message"), CASES)
def test_each_type_takes_valid_values_and_refuses_invalid_ones(
    app, tenants, define, kind, extra, good, stored, bad, message
):
    a, b = tenants
    api = name(kind[:4])
    define(a, api_name=api, type=kind, **extra)
    company = create(app, a, {api: good})
    assert company.custom[api] == stored
    errors = errors_of(app, a, {api: bad})
    assert list(errors) == [f"custom.{api}"]
    if message:
        assert message.lower() in errors[f"custom.{api}"][0].lower()
    # Tenant B has no such field: its validator refuses the name.
    assert "no custom field" in errors_of(app, b, {api: good})[f"custom.{api}"][0]


def test_user_field_takes_members_of_this_tenant_only(app, tenants, define):
    a, b = tenants
    api = name("owner")
    define(a, api_name=api, type="user")
    assert create(app, a, {api: str(a.owner_id)}).custom[api] == str(a.owner_id)
    assert "member" in errors_of(app, a, {api: str(b.owner_id)})[f"custom.{api}"][0]


def test_rules_required_min_max_length_pattern(app, tenants, define):
    a, _b = tenants
    score, code = name("score"), name("code")
    define(a, api_name=score, type="integer", required=True, min_value=1, max_value=10)
    define(a, api_name=code, type="text", min_length=3, max_length=5, pattern="[A-Z]+")
    assert errors_of(app, a, {})[f"custom.{score}"] == ["This field is required."]
    assert "minimum" in errors_of(app, a, {score: 0})[f"custom.{score}"][0]
    assert "maximum" in errors_of(app, a, {score: 11})[f"custom.{score}"][0]
    assert "minimum length" in errors_of(app, a, {score: 5, code: "AB"})[f"custom.{code}"][0]
    assert "maximum length" in errors_of(app, a, {score: 5, code: "ABCDEF"})[f"custom.{code}"][0]
    assert "pattern" in errors_of(app, a, {score: 5, code: "abc"})[f"custom.{code}"][0]
    assert create(app, a, {score: "5", code: "ABC"}).custom == {score: 5, code: "ABC"}


def test_retired_option_refused_for_new_values_but_kept_on_old_records(app, tenants, define):
    a, _b = tenants
    api = name("tier")
    row = define(
        a, api_name=api, type="single_select", options=[{"value": "gold"}, {"value": "old"}]
    )
    company = create(app, a, {api: "old"})
    with app.app_context(), tenant_session(a.ref) as s:
        fields.update_field(s, row.id, {"label": "Tier", "options": [
            {"value": "gold"}, {"value": "old", "retired": True}]})  # fmt: skip
    assert "retired" in errors_of(app, a, {api: "old"})[f"custom.{api}"][0]
    with app.app_context(), tenant_session(a.ref) as s:
        # The record keeps its value, and may be saved with it unchanged.
        kept = companies.update_company(
            s, company.id, {"name": company.name, "custom": {api: "old"}}
        )
        assert kept.custom[api] == "old"


def test_audit_diff_includes_custom_changes(app, tenants, define):
    a, _b = tenants
    api = name("size")
    define(a, api_name=api, type="integer")
    company = create(app, a, {api: 5})
    with app.app_context(), tenant_session(a.ref) as s:
        companies.update_company(s, company.id, {"custom": {api: 7}}, partial=True)
        entry = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_id == str(company.id))
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert entry.action == "company.updated"
        assert entry.changes == {f"custom.{api}": [5, 7]}


def test_unique_field_refuses_duplicates_and_has_an_index(app, tenants, define):
    a, b = tenants
    api = name("vat")
    row = define(a, api_name=api, type="text", unique=True)
    with app.app_context():
        assert indexes.index_name(row.id, True) in indexes.existing_indexes(a.ref)
        assert indexes.index_name(row.id, True) not in indexes.existing_indexes(b.ref)
    create(app, a, {api: "DE123"})
    assert "unique" in errors_of(app, a, {api: "DE123"})[f"custom.{api}"][0]


def test_unique_under_concurrent_inserts(app, tenants, define, backend):
    a, _b = tenants
    api = name("ref")
    define(a, api_name=api, type="text", unique=True, record_type="contacts")
    value = name("same")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def insert() -> None:
        with app.app_context():
            try:
                with tenant_session(a.ref) as s:
                    fields_for(s, "contacts")  # load the definitions before the race
                    barrier.wait()
                    contacts.create_contact(s, {"last_name": "Race", "custom": {api: value}})
                outcomes.append("ok")
            except ValidationFailed as exc:
                outcomes.append("refused:" + ",".join(exc.errors))
            except Exception as exc:  # noqa: BLE001 - reported in the assertion
                outcomes.append(f"error:{type(exc).__name__}:{exc}")

    threads = [threading.Thread(target=insert) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes.count("ok") == 1, outcomes
    loser = next(o for o in outcomes if o != "ok")
    if backend == "postgres":
        # The unique index makes the second insert wait, then refuses it: a named field error.
        assert loser == f"refused:custom.{api}", outcomes
    else:
        # SQLite serialises writers; the loser is refused by the index or finds the file locked.
        assert loser == f"refused:custom.{api}" or "database is locked" in loser, outcomes
    with app.app_context(), tenant_session(a.ref) as s:
        from rapport.tenants.contacts.models import Contact

        rows = [c for c in s.scalars(select(Contact)) if (c.custom or {}).get(api) == value]
        assert len(rows) == 1


def test_filter_on_a_filterable_field(app, tenants, define):
    a, b = tenants
    api = name("region")
    row = define(a, api_name=api, type="single_select", filterable=True,
                 options=[{"value": "north"}, {"value": "south"}])  # fmt: skip
    north = create(app, a, {api: "north"})
    create(app, a, {api: "south"})
    with app.app_context():
        assert indexes.index_name(row.id, False) in indexes.existing_indexes(a.ref)
        with tenant_session(a.ref) as s:
            page, _ = company_queries.list_companies(s, custom={api: "north"}, limit=100)
            assert [c.id for c in page.items] == [north.id]
        with tenant_session(b.ref) as s, pytest.raises(ValidationFailed):
            company_queries.list_companies(s, custom={api: "north"})


def test_archived_field_hidden_but_data_kept_and_delete_removes_values(app, tenants, define):
    a, _b = tenants
    api = name("legacy")
    row = define(a, api_name=api, type="text")
    company = create(app, a, {api: "keep me"})
    with app.app_context(), tenant_session(a.ref) as s:
        fields.archive_field(s, row.id)
    with app.app_context(), tenant_session(a.ref) as s:
        assert api not in [f.api_name for f in fields_for(s, "companies")]
        assert "no custom field" in errors_of(app, a, {api: "x"})[f"custom.{api}"][0]
        # Saving the record through a form (without the archived field) keeps the value.
        companies.update_company(s, company.id, {"name": company.name, "custom": {}})
    with app.app_context(), tenant_session(a.ref) as s:
        assert company_queries.get_company(s, company.id).custom[api] == "keep me"
        with pytest.raises(ValidationFailed):
            fields.delete_field(s, row.id, "wrong")
    with app.app_context(), tenant_session(a.ref) as s:
        assert fields.delete_field(s, row.id, api) == 1
    with app.app_context(), tenant_session(a.ref) as s:
        assert api not in company_queries.get_company(s, company.id).custom
        actions = list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_id == str(row.id))
                .order_by(AuditEntry.seq)  # without an order PostgreSQL may return any order
            )
        )
        assert actions == ["field.created", "field.archived", "field.deleted"]


def test_api_name_rules(app, tenants, define):
    a, _b = tenants
    api = name("dup")
    define(a, api_name=api, type="text")
    other = define(a, api_name=name("t"), type="text")
    with app.app_context(), tenant_session(a.ref) as s:
        for bad, key in (
            (api, "api_name"),
            ("Name", "api_name"),
            ("name", "api_name"),
            ("x", "api_name"),
        ):
            with pytest.raises(ValidationFailed) as caught:
                fields.create_field(
                    s, {"record_type": "companies", "api_name": bad, "label": "X", "type": "text"}
                )
            assert key in caught.value.errors
        with pytest.raises(ValidationFailed) as caught:
            fields.update_field(s, other.id, {"label": "T", "type": "integer"})
        assert "type" in caught.value.errors


def test_cache_invalidated_across_two_app_instances(app, tenants, define, backend_env):
    from rapport.platform.app import create_app

    a, _b = tenants
    other = create_app(backend_env.overrides())
    api = name("late")
    with other.app_context(), tenant_session(a.ref, other) as s:
        before = [f.api_name for f in fields_for(s, "companies")]  # cached in the other instance
    define(a, api_name=api, type="text")
    with other.app_context(), tenant_session(a.ref, other) as s:
        after = [f.api_name for f in fields_for(s, "companies")]
    assert api not in before and api in after
    other.extensions["rapport.tenancy"].dispose()

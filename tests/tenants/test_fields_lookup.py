"""Record lookup fields through the services: the target setting, values, visibility, filters,
type changes and deleted targets, with tenant B present."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from rapport.platform.errors import ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants import filtering
from rapport.tenants.companies import services as companies
from rapport.tenants.companies.models import Company
from rapport.tenants.contacts import services as contacts
from rapport.tenants.deals import services as deals
from rapport.tenants.fields import conversion, lookup
from rapport.tenants.fields import services as fields
from rapport.tenants.fields.openapi import property_of
from rapport.tenants.fields.queries import _freeze
from rapport.tenants.leads import services as leads
from rapport.tenants.roles import access
from tests.conftest import add_member


def name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def deal(app, tenant, **data):
    with app.app_context(), tenant_session(tenant.ref) as s:
        return deals.create_deal(s, {"name": name("Deal"), "currency": "EUR", **data})


def company(app, tenant, custom, **data):
    with app.app_context(), tenant_session(tenant.ref) as s:
        return companies.create_company(s, {"name": name("Co"), "custom": custom, **data})


def errors_of(app, tenant, custom) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        company(app, tenant, custom)
    return caught.value.errors


def test_a_lookup_needs_a_known_target_record_type(app, tenants, define):
    a, _b = tenants
    for target in (None, "", "invoices"):
        with pytest.raises(ValidationFailed) as caught:
            define(a, api_name=name("link"), type="lookup", target=target)
        assert "record type" in caught.value.errors["target"][0]
    with pytest.raises(ValidationFailed) as caught:
        define(a, api_name=name("link"), type="lookup", target="deals", default="x")
    assert caught.value.errors["default"] == ["A record lookup has no default value."]
    row = define(a, api_name=name("link"), type="lookup", target="deals", filterable=True)
    assert row.config == {"target": "deals"} and row.filterable


def test_values_are_records_of_the_target_type_in_this_tenant(app, tenants, define):
    a, b = tenants
    api = name("deal")
    define(a, api_name=api, type="lookup", target="deals", label="Main deal")
    mine, foreign = deal(app, a), deal(app, b)
    other_company = company(app, a, {})

    made = company(app, a, {api: str(mine.id)})
    assert made.custom[api] == str(mine.id)
    assert company(app, a, {api: str(mine.id).upper()}).custom[api] == str(mine.id)
    for bad in ("not an id", str(foreign.id), str(other_company.id), 42, ["x"]):
        assert errors_of(app, a, {api: bad}) == {f"custom.{api}": ["Choose a deal from the list."]}
    # Tenant B has no such field at all.
    assert "no custom field" in errors_of(app, b, {api: str(foreign.id)})[f"custom.{api}"][0]

    with app.app_context(), tenant_session(a.ref) as s:
        cleared = companies.update_company(s, made.id, {"custom": {api: ""}}, partial=True)
        assert api not in cleared.custom


def test_a_required_lookup_refuses_blank(app, tenants, define):
    a, _b = tenants
    api = name("deal")
    define(a, api_name=api, type="lookup", target="deals", required=True)
    assert errors_of(app, a, {api: ""}) == {f"custom.{api}": ["This field is required."]}


def test_a_record_the_members_role_cannot_see_is_refused(app, tenants, new_tenant, define):
    a = new_tenant("Lookup roles")
    api = name("deal")
    define(a, api_name=api, type="lookup", target="deals")
    rep, colleague = add_member(app, a).user_id, add_member(app, a).user_id
    own = deal(app, a, owner_id=str(rep))
    theirs = deal(app, a, owner_id=str(colleague))
    with app.app_context(), tenant_session(a.ref) as s:
        access.bind(s, rep, "sales_rep")
        with pytest.raises(ValidationFailed) as caught:
            companies.create_company(s, {"name": "Rep Co", "custom": {api: str(theirs.id)}})
        assert caught.value.errors == {f"custom.{api}": ["Choose a deal from the list."]}
        made = companies.create_company(s, {"name": "Rep Co", "custom": {api: str(own.id)}})
        assert made.custom[api] == str(own.id)
    # A value set by someone who sees more stays when the rep saves the record unchanged.
    with app.app_context(), tenant_session(a.ref) as s:
        companies.update_company(s, made.id, {"custom": {api: str(theirs.id)}}, partial=True)
    with app.app_context(), tenant_session(a.ref) as s:
        access.bind(s, rep, "sales_rep")
        kept = companies.update_company(
            s, made.id, {"name": "Rep Co renamed", "custom": {api: str(theirs.id)}}, partial=True
        )
        assert kept.custom[api] == str(theirs.id)


def test_the_target_changes_only_while_no_record_holds_a_value(app, tenants, define):
    a, _b = tenants
    api = name("link")
    row = define(a, api_name=api, type="lookup", target="contacts")
    with app.app_context(), tenant_session(a.ref) as s:
        assert fields.update_field(s, row.id, {"label": "Deal", "target": "deals"}).config == {
            "target": "deals"
        }
    company(app, a, {api: str(deal(app, a).id)})
    with app.app_context(), tenant_session(a.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            fields.update_field(s, row.id, {"label": "Deal", "target": "companies"})
        assert "cannot change" in caught.value.errors["target"][0]
        # Other settings still change; the target stays.
        assert fields.update_field(s, row.id, {"label": "Renamed"}).config == {"target": "deals"}


def test_no_type_converts_to_or_from_a_lookup(app, tenants, define):
    a, _b = tenants
    link = define(a, api_name=name("link"), type="lookup", target="deals")
    text = define(a, api_name=name("text"), type="text")
    with app.app_context(), tenant_session(a.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            conversion.preview(s, link.id, "text")
        assert "cannot change type" in caught.value.errors["type"][0]
        with pytest.raises(ValidationFailed) as caught:
            conversion.preview(s, text.id, "lookup")
        assert "No field can become a record lookup" in caught.value.errors["type"][0]
        with pytest.raises(ValidationFailed) as caught:
            fields.update_field(s, text.id, {"label": "X", "type": "lookup"})
        assert "not possible" in caught.value.errors["type"][0]


def test_filters_compare_the_id(app, tenants, define):
    a, b = tenants
    api = name("deal")
    define(a, api_name=api, type="lookup", target="deals", filterable=True)
    first, second = deal(app, a), deal(app, a)
    one, two = company(app, a, {api: str(first.id)}), company(app, a, {api: str(second.id)})
    blank = company(app, a, {})
    company(app, b, {})  # tenant B's records never show

    def matching(op: str, value: str) -> set:
        with app.app_context(), tenant_session(a.ref) as s:
            conditions = filtering.parse(s, "companies", [(f"custom.{api}", op, value)])
            stmt = filtering.apply(s, "companies", select(Company.id), conditions)
            return set(s.scalars(stmt.where(Company.id.in_([one.id, two.id, blank.id]))))

    assert matching("eq", str(first.id)) == {one.id}
    assert matching("ne", str(first.id)) == {two.id, blank.id}
    assert matching("in", f"{first.id},{second.id}") == {one.id, two.id}
    assert matching("is_null", "yes") == {blank.id}
    assert matching("is_null", "no") == {one.id, two.id}
    with app.app_context(), tenant_session(a.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            filtering.parse(s, "companies", [(f"custom.{api}", "contains", "x")])
        assert f"custom.{api}" in caught.value.errors
        with pytest.raises(ValidationFailed) as caught:
            filtering.parse(s, "companies", [(f"custom.{api}", "eq", "me")])
        assert caught.value.errors[f"custom.{api}"] == ["Enter the id of a record."]


def test_a_deleted_target_leaves_a_value_that_still_saves(app, tenants, define):
    a, _b = tenants
    api = name("deal")
    define(a, api_name=api, type="lookup", target="deals")
    gone = deal(app, a)
    made = company(app, a, {api: str(gone.id)})
    with app.app_context(), tenant_session(a.ref) as s:
        deals.delete_deal(s, gone.id)
    with app.app_context(), tenant_session(a.ref) as s:
        # The form sends the value back unchanged: it stays; a new dangling id is refused.
        kept = companies.update_company(
            s, made.id, {"name": "Still here", "custom": {api: str(gone.id)}}, partial=True
        )
        assert kept.custom[api] == str(gone.id)
    assert errors_of(app, a, {api: str(gone.id)}) == {
        f"custom.{api}": ["Choose a deal from the list."]
    }


def test_the_openapi_property_is_a_uuid_naming_the_target(app, tenants, define):
    a, _b = tenants
    row = define(a, api_name=name("deal"), type="lookup", target="deals", help_text="The deal.")
    schema = property_of(_freeze(row))
    assert schema["type"] == "string" and schema["format"] == "uuid"
    assert "deals" in schema["description"] and "The deal." in schema["description"]


def test_people_are_named_and_found_by_their_full_name(app, tenants):
    a, b = tenants
    first = f"Ada{secrets.token_hex(2)}"
    with app.app_context(), tenant_session(a.ref) as s:
        person = contacts.create_contact(s, {"first_name": first, "last_name": "Lovelace"})
        lead = leads.create_lead(s, {"company_name": f"Engines {first}"})
    with app.app_context(), tenant_session(b.ref) as s:
        contacts.create_contact(s, {"first_name": first, "last_name": "Lovelace"})
    with app.app_context(), tenant_session(a.ref) as s:
        assert lookup.resolve(s, "contacts", f"{first.lower()} lovelace") == str(person.id)
        assert lookup.titles(s, "contacts", [person.id]) == {str(person.id): f"{first} Lovelace"}
        assert (str(person.id), f"{first} Lovelace") in lookup.choices(s, "contacts", 10_000)
        assert lookup.titles(s, "leads", [lead.id]) == {str(lead.id): f"Engines {first}"}
        assert lookup.resolve(s, "contacts", "Nobody Here") is None
